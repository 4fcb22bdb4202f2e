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
from .selectors import user_for_sign_up_link
from .services import profile_update, user_sign_up, user_sign_up_confirm


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
    """The same answer whether or not the address has an account (the email that follows
    differs, and only the address's owner reads it)."""
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
            user_sign_up(
                email=data["email"],
                password=data["password1"],
                display_name=data["display_name"],
                timezone=data["timezone"],
                language=data["language"],
                next_url=_safe_next(request),
            )
        except ValidationError as error:
            form.add_error(None, error)
            return render(request, "accounts/sign_up.html", {"form": form}, status=400)
        return render(request, "accounts/sign_up_sent.html", {"email": data["email"]})
    return render(
        request, "accounts/sign_up.html", {"form": form}, status=400 if form.errors else 200
    )


def sign_up_confirm(request, uidb64, token):
    """The link a sign-up email holds. Opening it shows a button; only pressing it (a POST)
    confirms, so a mail scanner that follows links does not use it up."""
    user = user_for_sign_up_link(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "accounts/sign_up_confirm.html", {"valid": False}, status=400)
    if request.method != "POST":
        return render(request, "accounts/sign_up_confirm.html", {"valid": True, "user": user})
    user = user_sign_up_confirm(user=user)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    # The next page speaks the account's language; so does its welcome.
    with translation.override(user.language):
        messages.success(request, _("Welcome! Your account is ready."))
    return redirect(_safe_next(request) or "accounts:profile")


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
