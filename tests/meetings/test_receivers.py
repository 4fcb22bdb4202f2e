"""meetings.receivers: a member who leaves or is removed (communities' membership_ended,
sent after the commit) gives up their turns; a confirmed chair is replaced by the rule and
the new chair is told. The signal carries no time, so these tests run at the real now."""

from datetime import timedelta

import pytest
from django.utils import timezone

from communities import services as community_services
from communities.models import Membership
from meetings import selectors, services
from meetings.enums import ChairSource, Response, SwapStatus
from meetings.models import ChairChange, Meeting

from .helpers import community_with, meetings_of, series_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now()


def _setup(now, members=3):
    community, manager, users = community_with(members, joined=now - timedelta(days=400))
    series = series_make(community, manager, first_date=now.date() + timedelta(days=1), now=now)
    return community, manager, users, meetings_of(series)


def _reload(meeting):
    return Meeting.objects.select_related("chair", "backup").get(pk=meeting.pk)


def _leave(how, *, community, manager, user):
    if how == "leave":
        community_services.membership_leave(user=user, community=community)
    else:
        community_services.membership_remove(
            actor=manager, membership=Membership.objects.get(community=community, user=user)
        )


@pytest.mark.parametrize("how", ["leave", "remove"])
def test_a_confirmed_chair_who_leaves_is_replaced_and_the_new_chair_told(
    how, now, django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users, meetings = _setup(now)
    # The first chair's confirmation is committed (and sent) before they leave.
    with django_capture_on_commit_callbacks(execute=True):
        services.chair_confirm(actor=manager, meeting=meetings[0], now=now)
    first = _reload(meetings[0])
    assert (first.chair, first.backup, first.sequence) == (users[0], users[1], 1)

    with django_capture_on_commit_callbacks(execute=True):
        _leave(how, community=community, manager=manager, user=users[0])

    first = _reload(meetings[0])
    assert (first.chair, first.backup, first.sequence) == (users[1], users[2], 2)
    assert first.chair_confirmed_at is not None
    log = ChairChange.objects.filter(meeting=first).order_by("id").last()
    assert (log.kind, log.previous, log.chair, log.actor) == (
        ChairSource.LEFT,
        users[0],
        users[1],
        None,
    )
    assert log.at >= now
    assert [m.to for m in mailoutbox] == [[users[0].email], [users[1].email]]
    turns = selectors.rota_turns(community=community, now=timezone.now())
    assert users[0] not in {t.chair for t in turns} | {t.backup for t in turns}


def test_a_confirmed_backup_who_leaves_is_replaced_and_nobody_is_emailed(
    now, django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users, meetings = _setup(now)
    services.chair_confirm(actor=manager, meeting=meetings[0], now=now)

    with django_capture_on_commit_callbacks(execute=True):
        _leave("leave", community=community, manager=manager, user=users[1])

    first = _reload(meetings[0])
    assert (first.chair, first.backup, first.sequence) == (users[0], users[2], 1)
    assert ChairChange.objects.filter(kind=ChairSource.LEFT).count() == 0
    assert mailoutbox == []


def test_a_fixed_turn_not_yet_confirmed_goes_back_to_the_rota(
    now, django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users, meetings = _setup(now)
    services.chair_override(actor=manager, meeting=meetings[3], user=users[2], now=now)

    with django_capture_on_commit_callbacks(execute=True):
        _leave("remove", community=community, manager=manager, user=users[2])

    fourth = _reload(meetings[3])
    assert (fourth.chair, fourth.chair_source, fourth.sequence) == (None, "", 2)
    log = ChairChange.objects.filter(meeting=fourth).order_by("id").last()
    assert (log.kind, log.previous, log.chair) == (ChairSource.LEFT, users[2], None)
    assert mailoutbox == []
    turns = selectors.rota_turns(community=community, now=timezone.now())
    assert [t.chair for t in turns[:4]] == [users[0], users[1], users[0], users[1]]


def test_leaving_voids_open_swaps_and_keeps_the_past(now, django_capture_on_commit_callbacks):
    community, manager, users, meetings = _setup(now)
    swap = services.swap_propose(
        user=users[0], meeting=meetings[0], partner_meeting=meetings[1], now=now
    )
    services.answer_set(user=users[1], meeting=meetings[2], response=Response.YES, now=now)

    with django_capture_on_commit_callbacks(execute=True):
        _leave("leave", community=community, manager=manager, user=users[1])

    swap.refresh_from_db()
    assert swap.status == SwapStatus.VOID
    assert swap.decided_at >= now
    assert meetings[2].answers.filter(user=users[1]).exists()  # answers stay


def test_the_last_willing_member_leaving_leaves_no_chair_and_says_why(
    now, django_capture_on_commit_callbacks, mailoutbox
):
    community, manager, users, meetings = _setup(now, members=1)
    services.chair_confirm(actor=manager, meeting=meetings[0], now=now)

    with django_capture_on_commit_callbacks(execute=True):
        _leave("leave", community=community, manager=manager, user=users[0])

    first = _reload(meetings[0])
    assert (first.chair, first.chair_confirmed_at) == (None, None)
    turn = selectors.rota_turn(meeting=first, now=timezone.now())
    assert (turn.chair, turn.reason) == (None, "No chair yet: no member is willing to chair.")
    assert mailoutbox == []


def test_nothing_happens_until_the_leaving_commits(now, django_capture_on_commit_callbacks):
    community, manager, users, meetings = _setup(now)
    services.chair_confirm(actor=manager, meeting=meetings[0], now=now)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _leave("leave", community=community, manager=manager, user=users[0])

    assert len(callbacks) == 1
    assert _reload(meetings[0]).chair == users[0]
