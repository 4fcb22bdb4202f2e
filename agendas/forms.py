"""The agenda pages' forms: they read what people type; the services judge it."""

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from .enums import ItemKind
from .services import STANDING_KINDS


def error_field(form: forms.Form, field: str | None) -> str | None:
    """The form field a service's error belongs to, or None (shown at the top)."""
    return field if field in form.fields else None


def _title_field(label=None):
    # No bounds here: the services say what a title may be.
    return forms.CharField(
        label=label or _("Title"),
        required=False,
        widget=forms.TextInput(attrs={"maxlength": 200}),
    )


def _minutes_field():
    return forms.IntegerField(
        label=_("Minutes"),
        widget=forms.NumberInput(attrs={"min": 0, "max": 240, "step": 1}),
    )


class ItemForm(forms.Form):
    """An item's title and length (a template's or a meeting's)."""

    title = _title_field()
    minutes = _minutes_field()

    def __init__(self, *args, item=None, **kwargs):
        if item is not None:
            kwargs.setdefault("prefix", f"item-{item.pk}")
            kwargs.setdefault("initial", {"title": item.title, "minutes": item.minutes})
        super().__init__(*args, **kwargs)
        self.item = item


class ItemAddForm(forms.Form):
    title = _title_field()
    minutes = _minutes_field()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "new")
        kwargs.setdefault("initial", {"minutes": 5})
        super().__init__(*args, **kwargs)


class TemplateItemAddForm(ItemAddForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=ItemKind.choices, initial=ItemKind.OTHER)

    field_order = ["kind", "title", "minutes"]

    def __init__(self, *args, present=(), **kwargs):
        super().__init__(*args, **kwargs)
        # The standing items the template lacks, and "other".
        self.fields["kind"].choices = [
            (value, label)
            for value, label in ItemKind.choices
            if value not in STANDING_KINDS or value not in present
        ]
        self.fields["title"].help_text = _("A standing item without a title gets its usual one.")


class TurnForm(forms.Form):
    turn_seconds = forms.IntegerField(
        label=_("Roundtable turn (seconds)"),
        widget=forms.NumberInput(attrs={"min": 15, "max": 600, "step": 5}),
        help_text=_("Each member's turn: from 15 to 600 seconds."),
    )


class FocusForm(forms.Form):
    focus_topic = forms.CharField(
        label=_("Focus topic"), required=False, widget=forms.TextInput(attrs={"maxlength": 200})
    )
    presenter = forms.TypedChoiceField(
        label=_("Presenter: a member"), coerce=int, required=False, empty_value=None
    )
    presenter_name = forms.CharField(
        label=_("…or an outside guest (name)"),
        required=False,
        widget=forms.TextInput(attrs={"maxlength": 200}),
        help_text=_("One or the other, not both."),
    )

    def __init__(self, *args, members, agenda=None, **kwargs):
        self.users = {m.user.pk: m.user for m in members}
        if agenda is not None:
            if agenda.presenter is not None:
                self.users.setdefault(agenda.presenter.pk, agenda.presenter)
            kwargs.setdefault(
                "initial",
                {
                    "focus_topic": agenda.focus_topic,
                    "presenter": agenda.presenter_id,
                    "presenter_name": agenda.presenter_name,
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["presenter"].choices = [
            ("", _("Nobody (or a guest)")),
            *((pk, user.display_name) for pk, user in self.users.items()),
        ]

    def clean_presenter(self):
        pk = self.cleaned_data["presenter"]
        return None if pk is None else self.users[pk]


class TopicForm(forms.Form):
    title = _title_field(_("Topic"))
    details = forms.CharField(
        label=_("Details (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 2000}),
    )


def _meeting_label(meeting) -> str:
    day = formats.date_format(timezone.localtime(meeting.starts_at), "DATE_FORMAT")
    return f"{day} — {meeting.title}"


class TopicChooseForm(forms.Form):
    meeting = forms.TypedChoiceField(label=_("Chosen at"), coerce=int)

    def __init__(self, *args, meetings, topic=None, **kwargs):
        if topic is not None:
            kwargs.setdefault("prefix", f"topic-{topic.pk}")
        super().__init__(*args, **kwargs)
        self.meetings = {m.pk: m for m in meetings}
        self.fields["meeting"].choices = [(m.pk, _meeting_label(m)) for m in meetings]

    def clean_meeting(self):
        return self.meetings[self.cleaned_data["meeting"]]
