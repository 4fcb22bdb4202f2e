from django.contrib import admin, messages
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import Community, Invitation, Membership

# A membership's standing changes only through communities.services, which do what must
# follow (a removed member is disconnected from the rooms through membership_ended, a
# requester is emailed the decision): the admin shows it and changes it with actions.
# Willingness to chair, likewise: members change it on the rota page, and the meetings app
# gives up their turns when they stop being willing.
MEMBERSHIP_STANDING_FIELDS = (
    "status",
    "requested_at",
    "joined_at",
    "ended_at",
    "decided_by",
    "willing_to_chair",
)


class MembershipInline(admin.TabularInline):
    """The community's members; who they are and where they stand are read-only. People
    join through the site (or an invitation) and leave through the actions."""

    model = Membership
    fk_name = "community"
    extra = 0
    fields = ("user", "role", "status", "joined_at", "ended_at")
    readonly_fields = ("user", "status", "joined_at", "ended_at")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "join_policy", "language", "timezone", "created_at")
    list_filter = ("join_policy", "language", "timezone")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    date_hierarchy = "created_at"
    inlines = [MembershipInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new community goes through the service, as on the site: the admin becomes its
        # first manager and the apps above add their parts (its chat room).
        fields = {
            field.name: getattr(obj, field.name)
            for field in obj._meta.concrete_fields
            if field.editable and not field.primary_key
        }
        created = services.community_create(actor=request.user, **fields)
        # The admin goes on with `obj` (the inlines, the redirect): make it the saved row.
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    actions = ["approve_requests", "decline_requests", "remove_members"]
    list_display = ("user", "community", "role", "status", "requested_at", "joined_at", "ended_at")
    list_filter = ("status", "role", "willing_to_chair", "community")
    search_fields = ("user__email", "user__display_name", "community__name")
    list_select_related = ("user", "community")
    date_hierarchy = "joined_at"
    # Whose membership it is does not change either; only the role is edited here.
    readonly_fields = ("user", "community", *MEMBERSHIP_STANDING_FIELDS)

    def has_delete_permission(self, request, obj=None):
        # Deleting the row would skip membership_ended (the member's sockets stay open):
        # the "remove" action ends a membership, and keeps its history.
        return False

    def has_add_permission(self, request):
        # A membership with a status set by hand would skip what the services do (the
        # managers' email for a request, the new member's joined_at): people join through
        # the site or an invitation link.
        return False

    def _decide(self, request, queryset, *, approve: bool) -> None:
        done = refused = 0
        for membership in queryset.select_related("community", "user"):
            try:
                services.membership_request_decide(
                    actor=request.user, membership=membership, approve=approve
                )
            except services.CommunityActionError:
                refused += 1
            else:
                done += 1
        self.message_user(
            request,
            ngettext("%(count)d request decided.", "%(count)d requests decided.", done)
            % {"count": done},
            messages.SUCCESS,
        )
        if refused:
            self.message_user(
                request,
                ngettext(
                    "%(count)d was not waiting, and is unchanged.",
                    "%(count)d were not waiting, and are unchanged.",
                    refused,
                )
                % {"count": refused},
                messages.WARNING,
            )

    @admin.action(description=_("Approve the selected requests (emails the requesters)"))
    def approve_requests(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description=_("Decline the selected requests (emails the requesters)"))
    def decline_requests(self, request, queryset):
        self._decide(request, queryset, approve=False)

    @admin.action(description=_("Remove the selected members (disconnects them from the rooms)"))
    def remove_members(self, request, queryset):
        done = 0
        refused: dict[str, int] = {}
        for membership in queryset.select_related("community", "user"):
            try:
                services.membership_remove(actor=request.user, membership=membership)
            except services.CommunityActionError as error:
                refused[str(error.message)] = refused.get(str(error.message), 0) + 1
            else:
                done += 1
        self.message_user(
            request,
            ngettext("%(count)d member removed.", "%(count)d members removed.", done)
            % {"count": done},
            messages.SUCCESS,
        )
        for reason, count in refused.items():
            self.message_user(
                request,
                ngettext(
                    "%(count)d is unchanged: %(reason)s",
                    "%(count)d are unchanged: %(reason)s",
                    count,
                )
                % {"count": count, "reason": reason},
                messages.WARNING,
            )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = (
        "community",
        "note",
        "created_by",
        "created_at",
        "expires_at",
        "used_by",
        "used_at",
        "revoked_at",
    )
    list_filter = ("community", "created_at", "expires_at", "used_at")
    search_fields = ("community__name", "note", "used_by__email")
    readonly_fields = ("token",)
    autocomplete_fields = ("community", "created_by", "used_by")
    list_select_related = ("community", "created_by", "used_by")
