"""What the agendas tests share: a community with a monthly series (from the meetings
helpers), a confirmed chair, and a snapshot of every agendas row to show that a refusal
changed nothing."""

from agendas.models import Agenda, AgendaItem, AgendaTemplate, TemplateItem, Topic
from meetings import services as meeting_services
from meetings.models import Meeting
from outbox.models import Email
from tests.factories import UserFactory
from tests.meetings.helpers import NOW, community_with, meetings_of, series_make


def world(members: int = 3, **community_fields):
    """A community, its manager, `members` members and its monthly meetings (the first on
    January 13th, 2026, at noon in Vancouver; NOW is a week before)."""
    community, manager, users = community_with(members, **community_fields)
    series = series_make(community, manager)
    return community, manager, users, meetings_of(series)


def chair_confirm(meeting: Meeting, user) -> Meeting:
    staff = UserFactory(is_staff=True)
    meeting_services.chair_override(actor=staff, meeting=meeting, user=user, now=NOW)
    if meeting.chair_confirmed_at is None:
        meeting_services.chair_confirm(actor=staff, meeting=meeting, now=NOW)
    meeting.refresh_from_db()
    return meeting


def agendas_state() -> dict:
    """Every row the agendas services write, with the meetings' sequences and the
    outbox's size: equal before and after a refused action means it changed nothing."""
    models = [AgendaTemplate, TemplateItem, Agenda, AgendaItem, Topic]
    state = {m.__name__: list(m.objects.order_by("pk").values()) for m in models}
    state["sequences"] = list(Meeting.objects.order_by("pk").values_list("pk", "sequence"))
    state["emails"] = Email.objects.count()
    return state
