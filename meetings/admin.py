"""Site administrators see every series, meeting, answer, attendance, swap and the rota's
log. What has consequences (a meeting's sequence, its chair, the series' meetings) changes
only through `meetings.services`: the series form saves through them, meetings change by
admin actions, and the rest is read-only here (members answer on the site)."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import (
    Answer,
    Attendance,
    CalendarFeed,
    ChairChange,
    ChairSwap,
    Invitation,
    Meeting,
    Series,
)

SERIES_FIELDS = (
    "title",
    "rrule",
    "first_date",
    "start_time",
    "timezone",
    "duration_minutes",
    "video_url",
    "invite_automatically",
    "invite_days_before",
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SeriesForm(forms.ModelForm):
    class Meta:
        model = Series
        fields = ("community", *SERIES_FIELDS)

    video_url = forms.URLField(
        label=Series._meta.get_field("video_url").verbose_name,
        required=False,
        max_length=500,
        assume_scheme="https",
    )

    def clean(self):
        cleaned = super().clean()
        community = cleaned.get("community") or getattr(self.instance, "community", None)
        if community is None or self.errors:
            return cleaned
        try:
            services.series_preview(
                community=community, **{name: cleaned.get(name) for name in SERIES_FIELDS}
            )
        except services.MeetingError as error:
            field = error.field if error.field in self.fields else None
            self.add_error(field, str(error.message))
        return cleaned


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    form = SeriesForm
    list_display = ("title", "community", "rrule", "start_time", "timezone", "duration_minutes")
    list_filter = ("community", "timezone")
    search_fields = ("title", "community__name")
    list_select_related = ("community",)
    readonly_fields = ("created_by", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # A series stays in its community: its meetings, rooms and answers are there.
        return (*self.readonly_fields, "community") if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # its meetings may have answers: cancel them instead

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in SERIES_FIELDS}
        if change:
            series, result = services.series_update(actor=request.user, series=obj, **fields)
        else:
            series, result = services.series_create(
                actor=request.user, community=form.cleaned_data["community"], **fields
            )
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(series, field.attname))
        obj._state.adding, obj._state.db = False, series._state.db
        self.message_user(
            request,
            _("Meetings: %(created)d created, %(updated)d updated, %(cancelled)d cancelled.")
            % {"created": result.created, "updated": result.updated, "cancelled": result.cancelled},
            messages.SUCCESS,
        )


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0
    fields = ("user", "response", "note", "answered_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AttendanceInline(AnswerInline):
    model = Attendance
    fields = ("user", "status", "recorded_by", "recorded_at")
    readonly_fields = fields


class ChairChangeInline(AnswerInline):
    model = ChairChange
    fields = ("at", "kind", "previous", "chair", "actor", "reason")
    readonly_fields = fields


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    actions = ["cancel_meetings", "confirm_chairs"]
    list_display = (
        "title",
        "community",
        "starts_at",
        "duration_minutes",
        "status",
        "chair",
        "chair_confirmed_at",
        "sequence",
    )
    list_filter = ("status", "community", "series", "chair_source")
    search_fields = ("title", "community__name", "chair__display_name", "chair__email")
    list_select_related = ("community", "chair")
    date_hierarchy = "starts_at"
    inlines = [AnswerInline, AttendanceInline, ChairChangeInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Meeting._meta.fields]

    def has_add_permission(self, request):
        return False  # single meetings are made on the community's meetings page

    def has_delete_permission(self, request, obj=None):
        return False  # cancelled, never deleted: they keep their answers

    def _each(self, request, queryset, call, done_message) -> None:
        done = 0
        refused: dict[str, int] = {}
        for meeting in queryset.select_related("community"):
            try:
                call(meeting)
            except services.MeetingError as error:
                refused[str(error.message)] = refused.get(str(error.message), 0) + 1
            else:
                done += 1
        self.message_user(request, done_message(done), messages.SUCCESS)
        for reason, count in refused.items():
            self.message_user(
                request,
                ngettext(
                    "%(count)d unchanged: %(reason)s", "%(count)d unchanged: %(reason)s", count
                )
                % {"count": count, "reason": reason},
                messages.WARNING,
            )

    @admin.action(description=_("Cancel the selected meetings"))
    def cancel_meetings(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda meeting: services.meeting_cancel(actor=request.user, meeting=meeting),
            lambda n: (
                ngettext("%(count)d meeting cancelled.", "%(count)d meetings cancelled.", n)
                % {"count": n}
            ),
        )

    @admin.action(description=_("Confirm the selected meetings' chairs (the rota's choice)"))
    def confirm_chairs(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda meeting: services.chair_confirm(actor=request.user, meeting=meeting),
            lambda n: (
                ngettext("%(count)d chair confirmed.", "%(count)d chairs confirmed.", n)
                % {"count": n}
            ),
        )


@admin.register(Answer)
class AnswerAdmin(ReadOnlyAdmin):
    list_display = ("meeting", "user", "response", "answered_at")
    list_filter = ("response", "meeting__community")
    search_fields = ("user__display_name", "user__email", "meeting__title", "note")
    list_select_related = ("meeting", "user")


@admin.register(Attendance)
class AttendanceAdmin(ReadOnlyAdmin):
    list_display = ("meeting", "user", "status", "recorded_by", "recorded_at")
    list_filter = ("status", "meeting__community")
    search_fields = ("user__display_name", "user__email", "meeting__title")
    list_select_related = ("meeting", "user", "recorded_by")


@admin.register(ChairChange)
class ChairChangeAdmin(ReadOnlyAdmin):
    list_display = ("meeting", "kind", "previous", "chair", "actor", "at")
    list_filter = ("kind", "meeting__community")
    search_fields = ("meeting__title", "chair__display_name", "previous__display_name")
    list_select_related = ("meeting", "chair", "previous", "actor")
    date_hierarchy = "at"


@admin.register(ChairSwap)
class ChairSwapAdmin(ReadOnlyAdmin):
    list_display = ("proposer", "proposer_meeting", "partner", "partner_meeting", "status")
    list_filter = ("status", "community")
    search_fields = ("proposer__display_name", "partner__display_name")
    list_select_related = ("proposer", "partner", "proposer_meeting", "partner_meeting")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Who holds which meeting in their calendar: written by the invitation services
    only (an edit here would desynchronise calendars), so read-only."""

    list_display = ("meeting", "user", "sequence", "withdrawn", "sent_at")
    list_filter = ("withdrawn", "meeting__community")
    search_fields = ("user__email", "user__display_name", "meeting__title")
    list_select_related = ("meeting", "user")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ReadOnlyAdmin):
    """Members make and reset their addresses on their calendar page. Deleting one here
    stops its address at once; the member's page then makes a new one."""

    list_display = ("user", "community", "created_at")
    list_filter = ("community",)
    search_fields = ("user__display_name", "user__email", "community__name")
    list_select_related = ("user", "community")
    fields = ("user", "community", "token", "created_at")
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return admin.ModelAdmin.has_delete_permission(self, request, obj)  # by permission
