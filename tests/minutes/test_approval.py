"""minutes.services.approval: approval by the chair or a manager (once per revision), a
change to approved minutes as the next revision with what changed, and a member's
request that their roundtable lines be left out — every refusal changing nothing."""

import pytest

from agendas.models import Turn
from minutes import selectors, services
from minutes.enums import MinutesStatus
from minutes.models import LinesWithheld, Minutes, MinutesRevision
from tests.factories import UserFactory
from tests.minutes.helpers import at, minutes_state, sections

pytestmark = pytest.mark.django_db

ROUNDTABLE = "2. Current progress / initiatives roundtable"


def minutes_of(w) -> Minutes:
    return Minutes.objects.get(meeting=w.meeting)


def current(w) -> MinutesRevision:
    return MinutesRevision.objects.filter(minutes__meeting=w.meeting).latest("number")


# Approval ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["chair", "manager"])
def test_the_chair_or_a_manager_approves_the_draft(ended, who):
    actor = ended.chair if who == "chair" else ended.manager

    revision = services.minutes_approve(actor=actor, minutes=minutes_of(ended), now=at(ended, 70))

    revision.refresh_from_db()
    assert (revision.number, revision.status) == (1, MinutesStatus.APPROVED)
    assert (revision.approved_by, revision.approved_at) == (actor, at(ended, 70))


def test_approving_twice_is_refused_and_changes_nothing(ended):
    services.minutes_approve(actor=ended.chair, minutes=minutes_of(ended), now=at(ended, 70))
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_approve(actor=ended.manager, minutes=minutes_of(ended), now=at(ended, 80))

    assert refused.value.code == "not_draft"
    assert str(refused.value.message) == "Revision 1 of these minutes is already approved."
    assert minutes_state() == before


@pytest.mark.parametrize("who", ["backup", "member", "stranger"])
def test_others_cannot_approve(ended, who):
    actor = {"backup": ended.backup, "member": ended.users[2], "stranger": UserFactory()}[who]
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_approve(actor=actor, minutes=minutes_of(ended))

    assert (refused.value.code, refused.value.forbidden) == ("not_approver", True)
    assert minutes_state() == before


def test_approving_a_revision_that_changed_since_it_was_read_is_refused(ended):
    services.minutes_approve(actor=ended.chair, minutes=minutes_of(ended), now=at(ended, 70))
    services.minutes_draft_edit(
        actor=ended.chair, meeting=ended.meeting, body="Corrected.", now=at(ended, 80)
    )
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_approve(actor=ended.chair, minutes=minutes_of(ended), number=1)

    assert refused.value.code == "stale"
    assert minutes_state() == before


def test_editing_approved_minutes_makes_revision_2_and_shows_what_changed(ended):
    services.minutes_approve(actor=ended.chair, minutes=minutes_of(ended), now=at(ended, 70))
    first = current(ended)
    body = first.body.replace("Share the triage list.", "Share the triage list by May.")

    second = services.minutes_draft_edit(
        actor=ended.manager, meeting=ended.meeting, body=body, now=at(ended, 80)
    )

    assert (second.number, second.status, second.edited_by) == (
        2,
        MinutesStatus.DRAFT,
        ended.manager,
    )
    history = selectors.minutes_history(minutes=minutes_of(ended))
    assert [(e.revision.number, e.revision.status) for e in history] == [
        (1, MinutesStatus.APPROVED),
        (2, MinutesStatus.DRAFT),
    ]
    assert history[0].changes == ()
    changed = [(line.kind, line.text) for line in history[1].changes if line.kind != "same"]
    assert changed[1:] == [
        ("removed", "-- Share the triage list."),
        ("added", "+- Share the triage list by May."),
    ]
    assert changed[0][0] == "hunk"

    services.minutes_approve(actor=ended.chair, minutes=minutes_of(ended), number=2)
    assert list(MinutesRevision.objects.values_list("number", "status").order_by("number")) == [
        (1, MinutesStatus.APPROVED),
        (2, MinutesStatus.APPROVED),
    ]


def test_no_minutes_to_approve_before_the_draft(ended):
    other = ended.meetings[2]
    minutes = Minutes.objects.create(meeting=other)

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_approve(actor=ended.manager, minutes=minutes)

    assert refused.value.code == "no_minutes"


# A member's roundtable lines left out ------------------------------------------------


def test_a_member_withholds_their_lines_from_an_untouched_draft(ended):
    request, clean = services.minutes_lines_withhold(
        actor=ended.chair, meeting=ended.meeting, now=at(ended, 60)
    )

    assert (request.user, request.meeting, clean) == (ended.chair, ended.meeting, True)
    revision = current(ended)
    assert revision.is_untouched_draft
    assert sections(revision.body)[ROUNDTABLE].splitlines()[2:] == [
        "- **Newcomer**",
        r"  - A challenge or success: \*\*New\*\* here \<b\>hi\</b\> \[x\](javascript:alert(1))",
    ]
    assert "triage list" not in sections(revision.body)[ROUNDTABLE]
    # Redrafting later still leaves them out.
    services.note_add(actor=ended.manager, meeting=ended.meeting, text="Later.")
    assert "Tell us what you track" not in current(ended).body


def test_the_last_lines_withheld_leave_the_roundtable_saying_so(ended):
    services.minutes_lines_withhold(actor=ended.chair, meeting=ended.meeting)
    services.minutes_lines_withhold(actor=ended.newcomer, meeting=ended.meeting)

    part = sections(current(ended).body)[ROUNDTABLE]
    assert part.splitlines()[2:] == ["No roundtable lines were recorded."]


def test_withheld_lines_are_removed_from_an_edited_draft(ended):
    edited = current(ended).body.replace("Share the triage list.", "Share it.")
    services.minutes_draft_edit(actor=ended.chair, meeting=ended.meeting, body=edited)

    _request, clean = services.minutes_lines_withhold(actor=ended.chair, meeting=ended.meeting)

    assert clean is True
    revision = current(ended)
    assert revision.edited_by == ended.chair
    assert "Tell us what you track" not in revision.body
    assert "- Share it." in revision.body
    assert "- **Newcomer**" in revision.body


def test_withheld_lines_the_chair_rewrote_are_flagged_and_block_approval(ended):
    edited = current(ended).body.replace(
        "  - A challenge or success: We started a shared triage list",
        "  - She said: We started a shared triage list",
    )
    services.minutes_draft_edit(actor=ended.chair, meeting=ended.meeting, body=edited)

    _request, clean = services.minutes_lines_withhold(actor=ended.chair, meeting=ended.meeting)

    assert clean is False
    assert selectors.minutes_lines_still_in(meeting=ended.meeting, body=current(ended).body) == [
        ended.chair
    ]
    before = minutes_state()
    with pytest.raises(services.MinutesError) as refused:
        services.minutes_approve(actor=ended.manager, minutes=minutes_of(ended))
    assert refused.value.code == "withheld_lines"
    assert "Member A asked that their roundtable lines be left out" in str(refused.value.message)
    assert minutes_state() == before

    # Once the chair takes them out, approval goes through.
    services.minutes_draft_edit(
        actor=ended.chair,
        meeting=ended.meeting,
        body=edited.replace("  - She said: We started a shared triage list\n", ""),
    )
    services.minutes_draft_edit(
        actor=ended.chair,
        meeting=ended.meeting,
        body=current(ended).body.replace("  - How others can help: Tell us what you track\n", ""),
    )
    assert services.minutes_approve(actor=ended.manager, minutes=minutes_of(ended)).status == (
        MinutesStatus.APPROVED
    )


def test_withholding_twice_records_one_request(ended):
    services.minutes_lines_withhold(actor=ended.chair, meeting=ended.meeting)
    services.minutes_lines_withhold(actor=ended.chair, meeting=ended.meeting)

    assert LinesWithheld.objects.count() == 1


def test_withholding_after_approval_is_refused_and_changes_nothing(ended):
    services.minutes_approve(actor=ended.manager, minutes=minutes_of(ended))
    services.minutes_draft_edit(actor=ended.manager, meeting=ended.meeting, body="Revised.")
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_lines_withhold(actor=ended.chair, meeting=ended.meeting)

    assert refused.value.code == "approved"
    assert minutes_state() == before


@pytest.mark.parametrize("who", ["no_lines", "private_lines", "stranger"])
def test_withholding_without_lines_in_the_minutes_is_refused(ended, who):
    actor = {"no_lines": ended.users[2], "private_lines": ended.backup}.get(who) or UserFactory()
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_lines_withhold(actor=actor, meeting=ended.meeting)

    assert refused.value.code == ("not_member" if who == "stranger" else "no_lines")
    assert minutes_state() == before


def test_a_short_withheld_line_counts_only_where_it_ends_a_line(ended):
    Turn.objects.filter(user=ended.chair).update(challenge="Yes", help_wanted="")
    services.minutes_lines_withhold(actor=ended.chair, meeting=ended.meeting)

    assert selectors.minutes_lines_still_in(meeting=ended.meeting, body="Yes, we agreed.\n") == []
    assert selectors.minutes_lines_still_in(
        meeting=ended.meeting, body="- **Member A**\n  - She said: Yes\n"
    ) == [ended.chair]


def test_who_may_still_withhold_their_lines(ended):
    meeting = ended.meeting
    # Member B's lines were "not for the minutes": nothing to withhold; the manager spoke
    # not at all; Member A and the newcomer have lines in the draft.
    assert services.minutes_can_withhold(actor=ended.backup, meeting=meeting) is False
    assert services.minutes_can_withhold(actor=ended.manager, meeting=meeting) is False
    assert services.minutes_can_withhold(actor=ended.chair, meeting=meeting) is True

    services.minutes_lines_withhold(actor=ended.chair, meeting=meeting)
    assert services.minutes_can_withhold(actor=ended.chair, meeting=meeting) is False
    assert services.minutes_can_withhold(actor=ended.newcomer, meeting=meeting) is True

    minutes = Minutes.objects.get(meeting=meeting)
    services.minutes_approve(actor=ended.manager, minutes=minutes)
    assert services.minutes_can_withhold(actor=ended.newcomer, meeting=meeting) is False
