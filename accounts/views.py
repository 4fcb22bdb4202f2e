from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from .enums import Language
from .forms import ProfileForm, SignUpForm
from .services import profile_update, user_sign_up


def _safe_next(request) -> str | None:
    """The `next` address, if it stays on this site (never an open redirect)."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def _page_language() -> str:
    language = translation.get_language()
    return language if language in Language.values else Language.ENGLISH


def sign_up(request):
    if request.user.is_authenticated:
        return redirect("home")
    # Bound on any POST, even an empty one, so missing fields are reported. A new account
    # starts in the language the visitor is reading the site in.
    form = SignUpForm(
        request.POST if request.method == "POST" else None,
        initial={"language": _page_language()},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_sign_up(
                email=data["email"],
                password=data["password1"],
                display_name=data["display_name"],
                timezone=data["timezone"],
                language=data["language"],
            )
        except ValidationError as error:
            form.add_error(None, error)
            return render(request, "accounts/sign_up.html", {"form": form}, status=400)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome! Your account is ready."))
        return redirect(_safe_next(request) or "accounts:profile")
    return render(
        request, "accounts/sign_up.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
def profile(request):
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        profile_update(user=request.user, **{f: form.cleaned_data[f] for f in form.Meta.fields})
        messages.success(request, _("Your profile is saved."))
        return redirect("accounts:profile")
    if form.errors:
        # The form changed the instance in place while validating; reload what is stored.
        request.user.refresh_from_db()
    return render(
        request, "accounts/profile.html", {"form": form}, status=400 if form.errors else 200
    )


@require_POST
def set_language(request):
    """Switch the page language; for a signed-in person it becomes their preference."""
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in Language.values:
        profile_update(user=request.user, language=language)
    return django_set_language(request)
