"""The meeting pages' forms: they read what people type; the services judge it."""

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from accounts.forms import TimeZoneField

from . import recurrence
from .enums import AttendanceStatus, Response

# A service's MeetingError names the field it is about in the services' words.
SERVICE_FIELDS = {"rrule": "kind", "timezone_name": "timezone", "user": "chair"}


def error_field(form: forms.Form, field: str | None) -> str | None:
    """The form field a service's error belongs to, or None (shown at the top)."""
    name = SERVICE_FIELDS.get(field, field)
    return name if name in form.fields else None


def _date_input():
    # A date picker sends and reads ISO dates, whatever the page's language.
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _time_input():
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


def _duration_field():
    # No bounds here: the services say what a meeting's length may be.
    return forms.IntegerField(
        label=_("Length in minutes"),
        initial=60,
        widget=forms.NumberInput(attrs={"min": 1, "max": 480, "step": 1}),
        help_text=_("From 1 to 480 minutes (8 hours)."),
    )


def _video_field():
    return forms.URLField(
        label=_("Video-call link"), max_length=500, required=False, assume_scheme="https"
    )


KEEP_RULE = "keep"


class SeriesForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    kind = forms.ChoiceField(
        label=_("How the meetings repeat"),
        choices=recurrence.RULE_KINDS,
        initial=recurrence.MONTHLY_WEEKDAY,
        widget=forms.RadioSelect(attrs={"data-rule-kind": ""}),
    )
    ordinal = forms.TypedChoiceField(
        label=_("Which one in the month"),
        coerce=int,
        choices=list(recurrence.ORDINALS.items()),
        initial=2,
    )
    weekday = forms.TypedChoiceField(
        label=_("Weekday"), coerce=int, choices=list(enumerate(recurrence.WEEKDAYS)), initial=1
    )
    monthday = forms.IntegerField(
        label=_("Day of the month"), min_value=1, max_value=31, initial=15
    )
    interval = forms.IntegerField(
        label=_("Every how many weeks"), min_value=1, max_value=52, initial=1
    )
    first_date = forms.DateField(
        label=_("First date"),
        required=False,
        widget=_date_input(),
        help_text=_("The series starts on this date or the first date after it that fits."),
    )
    start_time = forms.TimeField(label=_("Local start time"), required=False, widget=_time_input())
    timezone = TimeZoneField(help_text=_("The start time is local to this zone all year."))
    duration_minutes = _duration_field()
    video_url = _video_field()
    invite_automatically = forms.BooleanField(
        label=_("Send each meeting's invitations by themselves"),
        required=False,
        help_text=_("Every active member gets their invitation the set number of days before."),
    )
    invite_days_before = forms.IntegerField(
        label=_("How many days before the meeting"),
        min_value=1,
        max_value=365,
        initial=21,
        required=False,  # empty keeps what the series has (21 for a new one)
    )

    # Which fields each kind of rule uses (the page hides the others when scripts run).
    KIND_FIELDS = {
        "ordinal": {recurrence.MONTHLY_WEEKDAY},
        "weekday": {recurrence.MONTHLY_WEEKDAY, recurrence.WEEKLY_KIND},
        "monthday": {recurrence.MONTHLY_DAY},
        "interval": {recurrence.WEEKLY_KIND},
    }

    def __init__(self, *args, community, series=None, **kwargs):
        self.series = series
        initial = kwargs.setdefault("initial", {})
        if series is None:
            initial.setdefault("timezone", community.timezone)
            initial.setdefault("video_url", community.video_url)
        else:
            initial.update(
                title=series.title,
                first_date=series.first_date,
                start_time=series.start_time,
                timezone=series.timezone,
                duration_minutes=series.duration_minutes,
                video_url=series.video_url,
                invite_automatically=series.invite_automatically,
                invite_days_before=series.invite_days_before,
            )
            choice = recurrence.rule_choice(series.rrule)
            if choice is None:
                initial["kind"] = KEEP_RULE
            else:
                initial.update(
                    kind=choice.kind,
                    weekday=choice.weekday,
                    ordinal=choice.ordinal,
                    monthday=choice.monthday,
                    interval=choice.interval,
                )
        super().__init__(*args, **kwargs)
        if series is not None and recurrence.rule_choice(series.rrule) is None:
            # A rule typed in the administration: kept unless another kind is chosen.
            keep = _("Keep the current rule (%(rule)s)") % {"rule": series.rrule}
            self.fields["kind"].choices = [(KEEP_RULE, keep), *recurrence.RULE_KINDS]
        for name, kinds in self.KIND_FIELDS.items():
            self.fields[name].kinds = " ".join(sorted(kinds))

    def service_fields(self) -> dict:
        """The services' keyword arguments (series_preview, series_create, series_update)."""
        data = self.cleaned_data
        if data["kind"] == KEEP_RULE:
            rrule = self.series.rrule
        else:
            rrule = recurrence.rule_text(
                recurrence.RuleChoice(
                    kind=data["kind"],
                    weekday=data["weekday"],
                    ordinal=data["ordinal"],
                    monthday=data["monthday"],
                    interval=data["interval"],
                )
            )
        return {
            "title": data["title"],
            "rrule": rrule,
            "first_date": data["first_date"],
            "start_time": data["start_time"],
            "timezone": data["timezone"],
            "duration_minutes": data["duration_minutes"],
            "video_url": data["video_url"],
            "invite_automatically": data["invite_automatically"],
            "invite_days_before": data["invite_days_before"],
        }


class MeetingForm(forms.Form):
    """One meeting: a new one outside any series, or one meeting's own changes."""

    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    day = forms.DateField(label=_("Date"), widget=_date_input())
    start_time = forms.TimeField(label=_("Local start time"), widget=_time_input())
    timezone = TimeZoneField()
    duration_minutes = _duration_field()
    video_url = _video_field()

    def __init__(self, *args, community, meeting=None, **kwargs):
        initial = kwargs.setdefault("initial", {})
        if meeting is None:
            initial.setdefault("timezone", community.timezone)
            initial.setdefault("video_url", community.video_url)
        else:
            local = timezone.localtime(meeting.starts_at, recurrence.zone_get(meeting.timezone))
            initial.update(
                title=meeting.title,
                day=local.date(),
                start_time=local.time(),
                timezone=meeting.timezone,
                duration_minutes=meeting.duration_minutes,
                video_url=meeting.video_url,
            )
        super().__init__(*args, **kwargs)

    def service_fields(self) -> dict:
        """meeting_create's and meeting_update's keyword arguments."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "day": data["day"],
            "start_time": data["start_time"],
            "timezone_name": data["timezone"],
            "duration_minutes": data["duration_minutes"],
            "video_url": data["video_url"],
        }


class AnswerForm(forms.Form):
    response = forms.ChoiceField(
        label=_("Will you come?"), choices=Response.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500}),
        help_text=_("The chair and the managers see it."),
    )


def _member_choices(members) -> list[tuple[int, str]]:
    return [(m.user.pk, m.user.display_name) for m in members]


class ChairOverrideForm(forms.Form):
    chair = forms.TypedChoiceField(label=_("New chair"), coerce=int)

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.users = {m.user.pk: m.user for m in members}
        self.fields["chair"].choices = [("", _("Choose a member")), *_member_choices(members)]

    def clean_chair(self):
        return self.users[self.cleaned_data["chair"]]


class AttendanceForm(forms.Form):
    """One choice per member; only the ones changed are recorded."""

    def __init__(self, *args, members, recorded: dict[int, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.users = {}
        for m in members:
            name = f"user_{m.user.pk}"
            self.users[name] = m.user
            self.fields[name] = forms.ChoiceField(
                label=m.user.display_name,
                choices=[("", _("Not recorded")), *AttendanceStatus.choices],
                required=False,
                initial=recorded.get(m.user.pk, ""),
            )

    def changes(self):
        """(member, status) for each choice made that differs from what is recorded."""
        return [
            (self.users[name], self.cleaned_data[name])
            for name in self.changed_data
            if self.cleaned_data[name]
        ]


def _turn_label(turn) -> str:
    day = formats.date_format(timezone.localtime(turn.meeting.starts_at), "DATE_FORMAT")
    return f"{day} — {turn.meeting.title} ({turn.chair.display_name})"


class SwapForm(forms.Form):
    meeting = forms.TypedChoiceField(label=_("Your turn"), coerce=int)
    partner_meeting = forms.TypedChoiceField(label=_("Swap it with"), coerce=int)

    def __init__(self, *args, mine, theirs, **kwargs):
        super().__init__(*args, **kwargs)
        self.meetings = {t.meeting.pk: t.meeting for t in [*mine, *theirs]}
        self.fields["meeting"].choices = [(t.meeting.pk, _turn_label(t)) for t in mine]
        self.fields["partner_meeting"].choices = [(t.meeting.pk, _turn_label(t)) for t in theirs]

    def clean_meeting(self):
        return self.meetings[self.cleaned_data["meeting"]]

    def clean_partner_meeting(self):
        return self.meetings[self.cleaned_data["partner_meeting"]]
