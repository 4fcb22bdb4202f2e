from django.contrib import admin, messages
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import Community, Invitation, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "community"
    extra = 0
    fields = ("user", "role", "status", "joined_at", "ended_at")
    autocomplete_fields = ("user",)


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
    actions = ["approve_requests", "decline_requests"]
    list_display = ("user", "community", "role", "status", "requested_at", "joined_at", "ended_at")
    list_filter = ("status", "role", "community")
    search_fields = ("user__email", "user__display_name", "community__name")
    autocomplete_fields = ("user", "community", "decided_by")
    list_select_related = ("user", "community")
    date_hierarchy = "joined_at"

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
