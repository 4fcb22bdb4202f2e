"""The frames minutes adds to the meeting socket (agendas.hooks.MeetingFrame): from the
chair's console, a note, a decision or an action item on the item under way. Plumbing
only: each calls one service and answers `minutes.recorded`; refusals are `error` frames
(docs/protocol.md, "The meeting socket")."""

from datetime import date

from django.utils.translation import gettext as _

from accounts.models import User
from agendas.hooks import MeetingFrame
from agendas.models import AgendaItem
from live.errors import LiveError
from live.frames import ClientFrame, Field
from meetings.models import Meeting

from . import services
from .models import ACTION_LENGTH, DECISION_LENGTH, NOTE_LENGTH

# The codes the services refuse these with (all but no_item: the item is the run's own).
CODES = ("not_recorder", "cancelled", "no_text", "too_long", "bad_owner", "bad_due", "due_past")


def _call(service, **kwargs):
    try:
        return service(**kwargs)
    except services.MinutesError as error:
        raise LiveError(error.code, error.message) from None


def _where(meeting_id: int, current_item_id: int | None) -> dict:
    meeting = Meeting.objects.select_related("community").get(pk=meeting_id)
    item = AgendaItem(pk=current_item_id) if current_item_id else None
    return {"meeting": meeting, "item": item}


def _answer(kind: str, record, current_item_id: int | None) -> dict:
    return {"type": "minutes.recorded", "kind": kind, "id": record.pk, "item": current_item_id}


def note_add(*, user, meeting_id: int, current_item_id: int | None, text: str) -> dict:
    note = _call(services.note_add, actor=user, text=text, **_where(meeting_id, current_item_id))
    return _answer("note", note, current_item_id)


def decision_add(*, user, meeting_id: int, current_item_id: int | None, text: str) -> dict:
    decision = _call(
        services.decision_add, actor=user, text=text, **_where(meeting_id, current_item_id)
    )
    return _answer("decision", decision, current_item_id)


def action_add(
    *, user, meeting_id: int, current_item_id: int | None, text: str, owner: int, due: str = ""
) -> dict:
    due_date = None
    if due:
        try:
            due_date = date.fromisoformat(due)
        except ValueError:
            raise LiveError("bad_due", _("Give the date as YYYY-MM-DD.")) from None
    owner_user = User.objects.filter(pk=owner).first()
    if owner_user is None:
        raise LiveError("bad_owner", _("There is no such member."))
    action = _call(
        services.action_item_create,
        actor=user,
        owner=owner_user,
        text=text,
        due_date=due_date,
        **_where(meeting_id, current_item_id),
    )
    return _answer("action", action, current_item_id)


# Room for a text a little over its limit: the service says "too long" in words.
FRAMES = (
    MeetingFrame(
        "note.add",
        ClientFrame({"text": Field(str, maximum=NOTE_LENGTH * 2)}, action=True),
        note_add,
        CODES,
    ),
    MeetingFrame(
        "decision.add",
        ClientFrame({"text": Field(str, maximum=DECISION_LENGTH * 2)}, action=True),
        decision_add,
        CODES,
    ),
    MeetingFrame(
        "action.add",
        ClientFrame(
            {
                "text": Field(str, maximum=ACTION_LENGTH * 2),
                "owner": Field(int, minimum=1),
                "due": Field(str, required=False, maximum=10),
            },
            action=True,
        ),
        action_add,
        CODES,
    ),
)
