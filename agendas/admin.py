"""Site administrators see every template, agenda and topic. Templates are edited here
freely (they shape only agendas made later); a meeting's agenda changes on the site only,
through `agendas.services`, so a published agenda's changes reach members' calendars."""

from django.contrib import admin

from .models import Agenda, AgendaItem, AgendaTemplate, TemplateItem, Topic


class TemplateItemInline(admin.TabularInline):
    model = TemplateItem
    fields = ("position", "kind", "title", "minutes", "per_member")
    extra = 0


@admin.register(AgendaTemplate)
class AgendaTemplateAdmin(admin.ModelAdmin):
    list_display = ("community", "turn_seconds", "updated_at")
    search_fields = ("community__name", "community__slug")
    fields = ("community", "turn_seconds", "updated_at")
    readonly_fields = ("updated_at",)
    inlines = [TemplateItemInline]

    def get_readonly_fields(self, request, obj=None):
        return ("community", "updated_at") if obj else ("updated_at",)


class AgendaItemInline(admin.TabularInline):
    model = AgendaItem
    fields = ("position", "kind", "title", "minutes", "per_member", "started_at", "ended_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Agenda)
class AgendaAdmin(admin.ModelAdmin):
    list_display = ("meeting", "focus_topic", "published_at", "updated_at")
    list_filter = ("meeting__community",)
    search_fields = ("meeting__title", "focus_topic", "presenter_name")
    list_select_related = ("meeting",)
    inlines = [AgendaItemInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("title", "community", "status", "proposed_by", "chosen_at", "created_at")
    list_filter = ("status", "community")
    search_fields = ("title", "details")
    list_select_related = ("community", "proposed_by", "chosen_at")
    fields = ("community", "title", "details", "proposed_by", "status", "chosen_at", "created_at")
    # Choosing moves a topic onto an agenda: done on the site, through the services.
    readonly_fields = ("community", "proposed_by", "status", "chosen_at", "created_at")

    def has_add_permission(self, request):
        return False
