"""HTTP plumbing for communities: look up, call one service, show the outcome."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .enums import JoinPolicy, MembershipStatus
from .forms import CommunityForm, InvitationForm
from .hooks import community_links
from .http import manager_view, perform, with_community
from .models import Invitation, Membership


def _form_data(request):
    """Bound on any POST, even an empty one, so missing fields are reported."""
    return request.POST if request.method == "POST" else None


def home(request):
    communities = selectors.community_list_for_user(user=request.user)
    return render(request, "communities/home.html", {"communities": communities})


@with_community
def community_detail(request, community, membership):
    can_manage = selectors.community_can_manage(user=request.user, membership=membership)
    can_read = selectors.community_can_read(user=request.user, membership=membership)
    members = list(selectors.community_members(community=community)) if can_read else []
    links = [
        (link.label, reverse(link.url_name, kwargs={"slug": community.slug}))
        for link in community_links
        if (can_manage if link.managers_only else can_read)
    ]
    context = {
        "community": community,
        "membership": membership,
        "links": links,
        "can_manage": can_manage,
        "can_read": can_read,
        "members": members,
        "removable_ids": {
            m.pk
            for m in members
            if selectors.community_can_remove(user=request.user, membership=membership, target=m)
        },
    }
    if can_manage:
        context.update(
            pending=selectors.community_pending_requests(community=community),
            invitations=selectors.community_open_invitations(
                community=community, now=timezone.now()
            ),
            invitation_form=InvitationForm(),
            new_invitation=_new_invitation(request, community),
        )
    return render(request, "communities/detail.html", context)


def _new_invitation(request, community):
    """The invitation just created, to show its link once (its id travels in the session)."""
    pk = request.session.pop(f"new_invitation_{community.pk}", None)
    if pk is None:
        return None
    return Invitation.objects.filter(pk=pk, community=community).first()


@login_required
def community_create(request):
    if not request.user.is_staff:
        return render(
            request,
            "communities/refused.html",
            {"message": _("Only site administrators can create communities.")},
            status=403,
        )
    form = CommunityForm(_form_data(request))
    if form.is_bound and form.is_valid():
        community = services.community_create(actor=request.user, **form.cleaned_data)
        messages.success(request, _("The community is created. You are its first manager."))
        return redirect(community)
    return render(
        request, "communities/form.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
@manager_view
def community_edit(request, community, membership):
    form = CommunityForm(_form_data(request), instance=community)
    if form.is_bound and form.is_valid():
        _result, refusal = perform(
            request,
            community,
            lambda: services.community_update(
                actor=request.user, community=community, **form.cleaned_data
            ),
        )
        if refusal:
            return refusal
        messages.success(request, _("The community's settings are saved."))
        return redirect(community)
    if form.errors:
        # Validation wrote the rejected values onto the instance; show what is stored.
        community.refresh_from_db()
    return render(
        request,
        "communities/form.html",
        {"form": form, "community": community},
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
@with_community
def community_join(request, community, membership):
    joined, refusal = perform(
        request,
        community,
        lambda: services.membership_join(user=request.user, community=community),
    )
    if refusal:
        return refusal
    if joined.is_active:
        messages.success(request, _("Welcome to %(community)s!") % {"community": community.name})
    else:
        messages.success(
            request,
            _("Your request is sent. A manager will answer it, and you will get an email."),
        )
    return redirect(community)


@require_POST
@login_required
@with_community
def community_leave(request, community, membership):
    was_pending = membership is not None and membership.status == MembershipStatus.PENDING
    _result, refusal = perform(
        request,
        community,
        lambda: services.membership_leave(user=request.user, community=community),
    )
    if refusal:
        return refusal
    if was_pending:
        messages.success(request, _("Your request is withdrawn."))
    else:
        messages.success(request, _("You have left %(community)s.") % {"community": community.name})
    # An invitation-only community is not visible any more once you have left it.
    return redirect(community if community.join_policy != JoinPolicy.INVITATION else "home")


def _membership_in(community, pk) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user"), pk=pk, community=community)


@require_POST
@login_required
@manager_view
def request_decide(request, community, membership, pk, decision):
    target = _membership_in(community, pk)
    approve = decision == "approve"
    _result, refusal = perform(
        request,
        community,
        lambda: services.membership_request_decide(
            actor=request.user, membership=target, approve=approve
        ),
    )
    if refusal:
        return refusal
    message = _("%(name)s is now a member.") if approve else _("%(name)s's request is declined.")
    messages.success(request, message % {"name": target.user.display_name})
    return redirect(community)


@require_POST
@login_required
@manager_view
def member_remove(request, community, membership, pk):
    target = _membership_in(community, pk)
    _result, refusal = perform(
        request,
        community,
        lambda: services.membership_remove(actor=request.user, membership=target),
    )
    if refusal:
        return refusal
    messages.success(
        request,
        _("%(name)s is removed from the community.") % {"name": target.user.display_name},
    )
    return redirect(community)


@require_POST
@login_required
@manager_view
def invitation_create(request, community, membership):
    form = InvitationForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(community)
    invitation, refusal = perform(
        request,
        community,
        lambda: services.invitation_create(
            actor=request.user,
            community=community,
            days=form.cleaned_data["days"],
            note=form.cleaned_data["note"],
        ),
    )
    if refusal:
        return refusal
    messages.success(
        request, _("A new invitation link is ready. Copy it and send it to one person.")
    )
    request.session[f"new_invitation_{community.pk}"] = invitation.pk
    return redirect(reverse("communities:detail", kwargs={"slug": community.slug}) + "#invitations")


@require_POST
@login_required
@manager_view
def invitation_revoke(request, community, membership, pk):
    invitation = get_object_or_404(Invitation, pk=pk, community=community)
    _result, refusal = perform(
        request,
        community,
        lambda: services.invitation_revoke(actor=request.user, invitation=invitation),
    )
    if refusal:
        return refusal
    messages.success(request, _("The invitation link is withdrawn."))
    return redirect(community)


def _invitation_page(request, community, error, status):
    return render(
        request,
        "communities/invitation.html",
        {"community": community, "error": error},
        status=status,
    )


def invitation_accept(request, slug, token):
    """The page an invitation link opens. Anyone holding a valid link may see it."""
    invitation = selectors.invitation_find(slug=slug, token=token)
    if invitation is None:
        return _invitation_page(
            request,
            None,
            _(
                "This invitation link is not valid. Check that you copied all of it, "
                "or ask a manager for a new one."
            ),
            404,
        )
    community = invitation.community
    refusal = services.invitation_refusal(invitation)
    if refusal is not None:
        return _invitation_page(request, community, refusal.message, 410)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            services.invitation_accept(user=request.user, invitation=invitation)
        except services.CommunityActionError as error:
            if error.code != "already_member":
                return _invitation_page(request, community, error.message, 410)
            messages.info(request, error.message)
            return redirect(community)
        messages.success(request, _("Welcome to %(community)s!") % {"community": community.name})
        return redirect(community)
    return render(
        request, "communities/invitation.html", {"community": community, "invitation": invitation}
    )
