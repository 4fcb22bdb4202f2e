"""Open action items come back: "Review of action items" goes on the next meeting's agenda
(before "Future agenda"), once, whether that agenda was made before the action item was
recorded or is made after; no open item, no review."""

import pytest

from agendas import services as agenda_services
from agendas.enums import ItemKind
from agendas.models import Agenda
from minutes import services
from minutes.enums import ActionStatus
from tests.minutes.helpers import at, run_until_end, world

pytestmark = pytest.mark.django_db


def _kinds(meeting) -> list[str]:
    agenda = Agenda.objects.filter(meeting=meeting).first()
    return (
        []
        if agenda is None
        else list(agenda.items.order_by("position").values_list("kind", flat=True))
    )


def test_an_action_item_puts_the_review_on_the_next_agenda_made_already_once():
    w = world()
    following = w.meetings[2]
    agenda_services.agenda_ensure(meeting=following, now=at(w, -60))
    assert ItemKind.ACTIONS not in _kinds(following)

    run_until_end(w)  # records an action item for B
    services.action_item_create(
        actor=w.chair, meeting=w.meeting, owner=w.chair, text="Another", now=at(w, 45)
    )

    kinds = _kinds(following)
    assert kinds.count(ItemKind.ACTIONS) == 1
    assert kinds[-2:] == [ItemKind.ACTIONS, ItemKind.FUTURE]
    item = Agenda.objects.get(meeting=following).items.get(kind=ItemKind.ACTIONS)
    assert (item.title, item.minutes) == ("Review of action items", 5)


def test_an_agenda_made_later_has_the_review_while_items_are_open_and_not_after():
    w = world(language="fr")
    run_until_end(w)
    Agenda.objects.filter(meeting=w.meetings[2]).delete()  # as if never made

    agenda = agenda_services.agenda_ensure(meeting=w.meetings[2], now=at(w, 60))
    review = agenda.items.get(kind=ItemKind.ACTIONS)
    assert review.title == "Revue des actions"

    for action in w.meeting.action_items.all():
        services.action_item_status_set(
            actor=w.manager, action_item=action, status=ActionStatus.DONE, now=at(w, 70)
        )
    Agenda.objects.filter(meeting=w.meetings[3]).delete()
    agenda_services.agenda_ensure(meeting=w.meetings[3], now=at(w, 80))
    assert ItemKind.ACTIONS not in _kinds(w.meetings[3])
