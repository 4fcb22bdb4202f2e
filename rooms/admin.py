from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Message, Report, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("title", "community", "kind", "last_seq", "created_at")
    list_filter = ("kind", "community")
    search_fields = ("title", "community__name")
    readonly_fields = ("last_seq",)
    list_select_related = ("community",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "room",
        "seq",
        "author",
        "short_body",
        "created_at",
        "edited_at",
        "deleted_at",
        "hidden_at",
    )
    list_filter = ("room__community", "room", "created_at", "hidden_at", "deleted_at")
    search_fields = ("body", "author__display_name", "author__email")
    # Messages are written through the room socket only: numbering and events depend on it.
    readonly_fields = (
        "room",
        "seq",
        "author",
        "client_id",
        "body",
        "created_at",
        "edited_at",
        "deleted_at",
        "hidden_at",
        "hidden_by",
    )
    list_select_related = ("room", "author")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("text"))
    def short_body(self, message):
        return message.body[:80]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("message", "reporter", "reason", "created_at", "resolved_at", "resolved_by")
    list_filter = ("resolved_at", "created_at", "message__room__community")
    search_fields = ("reason", "message__body", "reporter__display_name")
    list_select_related = ("message", "reporter", "resolved_by")
    autocomplete_fields = ("reporter", "resolved_by")
    readonly_fields = ("message",)
