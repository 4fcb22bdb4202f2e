"""Site administrators see every meeting's minutes and their revisions, the notes,
decisions and action items, the attachments and the members' requests to leave their lines
out. Read-only where a change must go through minutes.services (approval, distribution,
an approved revision's text); action items' status and texts may be corrected here."""

from django.contrib import admin

from .models import (
    ActionItem,
    Attachment,
    Decision,
    LinesWithheld,
    Minutes,
    MinutesRevision,
    Note,
)


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RevisionInline(ReadOnly, admin.TabularInline):
    model = MinutesRevision
    fields = ("number", "status", "edited_by", "edited_at", "approved_by", "approved_at")
    fields += ("distributed_at",)
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Minutes)
class MinutesAdmin(admin.ModelAdmin):
    list_display = ("meeting", "created_at", "recording_url")
    search_fields = ("meeting__title", "meeting__community__name")
    list_select_related = ("meeting",)
    # The recording's link is set on the distribution page (checked there: http/https).
    readonly_fields = ("meeting", "created_at", "recording_url")
    inlines = [RevisionInline]


@admin.register(MinutesRevision)
class MinutesRevisionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("minutes", "number", "status", "approved_at", "distributed_at")
    list_filter = ("status",)
    search_fields = ("minutes__meeting__title", "body")
    list_select_related = ("minutes__meeting",)


@admin.register(ActionItem)
class ActionItemAdmin(admin.ModelAdmin):
    list_display = ("text", "owner", "due_date", "status", "meeting")
    list_filter = ("status", "meeting__community")
    search_fields = ("text", "owner__display_name", "owner__email")
    list_select_related = ("owner", "meeting")
    raw_id_fields = ("meeting", "item", "owner", "created_by", "status_changed_by")


@admin.register(Note, Decision)
class RecordAdmin(admin.ModelAdmin):
    list_display = ("__str__", "meeting", "created_at")
    search_fields = ("text", "meeting__title")
    list_select_related = ("meeting",)
    raw_id_fields = ("meeting", "item")


@admin.register(Attachment)
class AttachmentAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("title", "filename", "content_type", "size", "meeting", "uploaded_at")
    search_fields = ("title", "filename", "meeting__title")
    list_select_related = ("meeting",)


@admin.register(LinesWithheld)
class LinesWithheldAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("user", "meeting", "created_at")
    list_select_related = ("user", "meeting")
