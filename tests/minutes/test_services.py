"""minutes.services: the draft written when a live run ends (item by item, from a meeting
run through the agendas' services), redrafted only while untouched; notes, decisions and
action items, and every refusal changing nothing."""

import threading
from datetime import date, timedelta

import pytest
from django.db import connection

from agendas import hooks as agenda_hooks
from agendas import services as agenda_services
from agendas.models import AgendaItem
from communities.enums import JoinPolicy, MembershipStatus
from communities.models import Membership
from communities.selectors import CommunityNotFound
from meetings.models import Meeting
from minutes import services
from minutes.enums import ActionStatus, MinutesStatus
from minutes.models import ActionItem, Decision, Minutes, MinutesRevision, Note
from tests.factories import UserFactory
from tests.minutes.helpers import at, meeting_end, minutes_state, run_until_end, sections, world

pytestmark = pytest.mark.django_db


@pytest.fixture
def ended(django_capture_on_commit_callbacks):
    """The February meeting run and ended; its ending's after-commit callbacks run."""
    w = world()
    run_until_end(w)
    with django_capture_on_commit_callbacks(execute=True):
        meeting_end(w)
    return w


def draft_of(meeting) -> MinutesRevision:
    return MinutesRevision.objects.get(minutes__meeting=meeting)


# The draft, item by item -------------------------------------------------------------


def test_the_run_ending_drafts_the_minutes(ended):
    [revision] = MinutesRevision.objects.all()

    assert revision.minutes.meeting == ended.meeting
    assert (revision.number, revision.status) == (1, MinutesStatus.DRAFT)
    assert revision.generated_at is not None and revision.edited_at is None


def test_the_draft_header(ended):
    header = sections(draft_of(ended.meeting).body)[""]

    assert header.splitlines() == [
        "# Minutes: Monthly call, Feb. 10, 2026",
        "",
        "- **Date:** Feb. 10, 2026, 12:02 p.m.–12:55 p.m. (America/Vancouver)",  # noqa: RUF001
        f"- **Community:** {ended.community.name}",
        "- **Chair:** Member A",
        "- **Present:** Member A, Member B, Newcomer",
        "- **Regrets:** Member C",  # answered no
        "- **Absent:** Manager",
    ]


def test_the_draft_has_each_item_with_its_actual_times_in_order(ended):
    parts = sections(draft_of(ended.meeting).body)

    times = {heading: body.splitlines()[0] for heading, body in parts.items() if heading}
    assert times == {
        "1. New members introduction": "*12:02 p.m.–12:07 p.m.*",  # noqa: RUF001
        "2. Current progress / initiatives roundtable": "*12:07 p.m.–12:11 p.m.*",  # noqa: RUF001
        "3. Focus presentation": "*12:11 p.m.–12:26 p.m.*",  # noqa: RUF001
        "4. Open discussion": "*12:26 p.m.–12:46 p.m.*",  # noqa: RUF001
        "5. Future agenda and next meeting": "*12:46 p.m.–12:55 p.m.*",  # noqa: RUF001
        "Other notes": "- Recording saved.",
        "Decisions": "- Share the triage list.",
        "Action items": "- Send the triage list to everyone — Member B, due March 1, 2026",
    }


def test_the_draft_introduces_the_new_members(ended):
    part = sections(draft_of(ended.meeting).body)["1. New members introduction"]

    assert part.splitlines()[2:] == ["New members introduced:", "", "- Newcomer"]


def test_the_roundtable_leaves_out_lines_not_for_the_minutes(ended):
    part = sections(draft_of(ended.meeting).body)["2. Current progress / initiatives roundtable"]

    assert part.splitlines()[2:] == [
        "- **Member A**",
        "  - A challenge or success: We started a shared triage list",
        "  - How others can help: Tell us what you track",
        "- **Newcomer**",
        r"  - A challenge or success: \*\*New\*\* here \<b\>hi\</b\> \[x\](javascript:alert(1))",
    ]
    assert "clinic is closing" not in draft_of(ended.meeting).body
    assert "Member B**" not in draft_of(ended.meeting).body


def test_the_focus_has_its_topic_presenter_and_notes(ended):
    part = sections(draft_of(ended.meeting).body)["3. Focus presentation"]

    assert part.splitlines()[2:] == [
        "- **Focus topic:** Sleep and shift work",
        "- **Presenter:** Dr. Guest",
        "",
        "**Notes**",
        "",
        "- Rotate night shifts *forward*.",
    ]


def test_the_future_agenda_has_the_topics_chosen_and_the_next_meeting(ended):
    part = sections(draft_of(ended.meeting).body)["5. Future agenda and next meeting"]

    assert part.splitlines()[2:] == [
        "Topics chosen for next time:",
        "",
        "- Scribes in clinic",
        "",
        "Next meeting: March 10, 2026 at noon (America/Vancouver); chair: Member B.",
    ]


def test_a_french_community_gets_its_draft_in_french(django_capture_on_commit_callbacks):
    w = world(language="fr")
    run_until_end(w)
    with django_capture_on_commit_callbacks(execute=True):
        meeting_end(w)

    body = draft_of(w.meeting).body
    assert body.splitlines()[0].endswith("10 février 2026")
    assert "*12:02–12:07*" in body  # noqa: RUF001
    assert "## 1. Présentation des nouveaux membres" in body.splitlines()  # the stored title


def test_the_draft_is_made_by_the_hook_after_commit_not_before(
    django_capture_on_commit_callbacks,
):
    w = world()
    run_until_end(w)

    with django_capture_on_commit_callbacks() as callbacks:
        meeting_end(w)

    assert not Minutes.objects.exists()
    for callback in callbacks:
        callback()
    assert MinutesRevision.objects.count() == 1


def test_a_failing_callback_leaves_the_end_and_the_draft(django_capture_on_commit_callbacks):
    w = world()
    run_until_end(w)

    def broken(*, meeting_id):
        raise RuntimeError("a broken app")

    agenda_hooks.run_ended_callbacks.insert(0, broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = meeting_end(w)
    finally:
        agenda_hooks.run_ended_callbacks.remove(broken)

    assert run.status == "ended"
    assert MinutesRevision.objects.count() == 1


def test_the_minutes_register_their_hooks_once():
    assert agenda_hooks.run_ended_callbacks.count(services.minutes_run_ended) == 1


# Drafting again ------------------------------------------------------------------------


def test_drafting_twice_keeps_one_draft(ended):
    first = draft_of(ended.meeting)

    again = services.minutes_draft_generate(meeting=ended.meeting, now=at(ended, 90))

    assert again.pk == first.pk
    assert list(MinutesRevision.objects.values_list("pk", "body", "generated_at")) == [
        (first.pk, first.body, first.generated_at)
    ]
    assert Minutes.objects.count() == 1


def test_an_untouched_draft_takes_in_what_is_recorded_after_the_end(ended):
    services.note_add(
        actor=ended.chair, meeting=ended.meeting, text="Late note.", now=at(ended, 60)
    )

    revision = draft_of(ended.meeting)
    assert sections(revision.body)["Other notes"] == "- Recording saved.\n- Late note."
    assert revision.generated_at == at(ended, 60)


def test_a_draft_a_person_edited_is_never_redrafted(ended):
    edited = services.minutes_draft_edit(
        actor=ended.chair, meeting=ended.meeting, body="# Our own words", now=at(ended, 70)
    )

    services.note_add(actor=ended.chair, meeting=ended.meeting, text="Later.", now=at(ended, 80))
    services.minutes_draft_generate(meeting=ended.meeting, now=at(ended, 90))

    revision = draft_of(ended.meeting)
    assert revision.pk == edited.pk
    assert (revision.body, revision.edited_by, revision.edited_at) == (
        "# Our own words\n",
        ended.chair,
        at(ended, 70),
    )


def test_a_change_to_approved_minutes_is_a_new_revision_and_both_are_kept(ended):
    first = draft_of(ended.meeting)
    MinutesRevision.objects.filter(pk=first.pk).update(status=MinutesStatus.APPROVED)

    second = services.minutes_draft_edit(
        actor=ended.manager, meeting=ended.meeting, body="Corrected.", now=at(ended, 70)
    )
    services.minutes_draft_generate(meeting=ended.meeting, now=at(ended, 80))

    assert list(
        MinutesRevision.objects.order_by("number").values_list("number", "status", "body")
    ) == [(1, MinutesStatus.APPROVED, first.body), (2, MinutesStatus.DRAFT, "Corrected.\n")]
    assert second.edited_by == ended.manager


def test_an_edit_that_changes_nothing_leaves_the_draft_untouched(ended):
    first = draft_of(ended.meeting)
    as_a_browser_sends_it = first.body.rstrip("\n").replace("\n", "\r\n")

    services.minutes_draft_edit(
        actor=ended.chair, meeting=ended.meeting, body=as_a_browser_sends_it
    )

    assert draft_of(ended.meeting).edited_at is None


def test_no_draft_before_the_meeting_ends():
    w = world()
    run_until_end(w)

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_draft_generate(meeting=w.meeting)

    assert refused.value.code == "not_ended"
    assert not Minutes.objects.exists()


def test_a_run_ended_by_the_periodic_work_gets_its_draft(django_capture_on_commit_callbacks):
    w = world()
    run_until_end(w)

    with django_capture_on_commit_callbacks(execute=True):
        ended = agenda_services.runs_end_overdue(now=w.meeting.ends_at + timedelta(hours=3))

    assert ended == 1
    assert MinutesRevision.objects.count() == 1


@pytest.mark.parametrize("who", ["member", "stranger"])
def test_only_the_chair_backup_and_managers_edit_the_minutes(ended, who):
    actor = ended.users[2] if who == "member" else UserFactory()
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_draft_edit(actor=actor, meeting=ended.meeting, body="Mine now.")

    assert (refused.value.code, refused.value.forbidden) == ("not_recorder", True)
    assert minutes_state() == before


def test_an_empty_edit_is_refused(ended):
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_draft_edit(actor=ended.chair, meeting=ended.meeting, body="  \n ")

    assert (refused.value.code, refused.value.field) == ("no_text", "body")
    assert minutes_state() == before


# Notes, decisions, action items ------------------------------------------------------


@pytest.fixture
def live():
    w = world()
    run_until_end(w)
    return w


@pytest.mark.parametrize("who", ["chair", "backup", "manager", "staff"])
def test_the_chair_backup_managers_and_staff_take_notes(live, who):
    actor = {
        "chair": live.chair,
        "backup": live.backup,
        "manager": live.manager,
        "staff": UserFactory(is_staff=True),
    }[who]

    note = services.note_add(
        actor=actor,
        meeting=live.meeting,
        text="  A point\nover two lines  ",
        item=live.item("discussion"),
        now=at(live, 40),
    )

    assert Note.objects.filter(pk=note.pk).values_list("author", "item", "text").get() == (
        actor.pk,
        live.item("discussion").pk,
        "A point\nover two lines",
    )


def test_a_member_who_is_not_chair_or_backup_cannot_take_notes(live):
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.note_add(actor=live.users[2], meeting=live.meeting, text="Hello")

    assert (refused.value.code, refused.value.forbidden) == ("not_recorder", True)
    assert str(refused.value.message) == (
        "Only the meeting's chair, its backup and the managers can do that."
    )
    assert minutes_state() == before


def test_a_chair_who_left_the_community_cannot_take_notes(live):
    Membership.objects.filter(user=live.chair).update(status=MembershipStatus.LEFT)
    before = minutes_state()

    with pytest.raises(services.MinutesError):
        services.note_add(actor=live.chair, meeting=live.meeting, text="Hello")

    assert minutes_state() == before


def test_an_outsider_of_an_invitation_only_community_is_told_not_found():
    w = world(join_policy=JoinPolicy.INVITATION)
    before = minutes_state()

    with pytest.raises(CommunityNotFound):
        services.note_add(actor=UserFactory(), meeting=w.meeting, text="Hello")

    assert minutes_state() == before


@pytest.mark.parametrize(
    ("text", "code"),
    [("", "no_text"), ("   ", "no_text"), ("x" * 2001, "too_long")],
)
def test_a_bad_note_is_refused(live, text, code):
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.note_add(actor=live.chair, meeting=live.meeting, text=text)

    assert (refused.value.code, refused.value.field) == (code, "text")
    assert minutes_state() == before


def test_a_note_on_another_meeting_item_is_refused(live):
    other = agenda_services.agenda_ensure(meeting=live.meetings[2])
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.note_add(
            actor=live.chair,
            meeting=live.meeting,
            text="Hello",
            item=AgendaItem.objects.filter(agenda=other).first(),
        )

    assert (refused.value.code, refused.value.field) == ("no_item", "item")
    assert minutes_state() == before


def test_nothing_is_recorded_for_a_cancelled_meeting(live):
    Meeting.objects.filter(pk=live.meeting.pk).update(status="cancelled")
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.decision_add(actor=live.manager, meeting=live.meeting, text="No.")

    assert refused.value.code == "cancelled"
    assert minutes_state() == before


def test_decisions_are_recorded_by_the_chair_only_among_members(live):
    decision = services.decision_add(
        actor=live.backup, meeting=live.meeting, text="Meet in June.", item=live.item("future")
    )
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.decision_add(actor=live.users[2], meeting=live.meeting, text="Cancel June.")

    assert refused.value.code == "not_recorder"
    assert minutes_state() == before
    assert Decision.objects.filter(meeting=live.meeting).count() == 2
    assert (decision.created_by, decision.item) == (live.backup, live.item("future"))


def test_an_action_item_is_open_for_its_owner(live):
    action = services.action_item_create(
        actor=live.manager,
        meeting=live.meeting,
        owner=live.users[2],
        text="  Draft   the survey ",
        due_date=date(2026, 2, 10),  # the meeting's own day, in the community's zone
    )

    assert (action.owner, action.text, action.status, action.created_by) == (
        live.users[2],
        "Draft the survey",
        ActionStatus.OPEN,
        live.manager,
    )


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"owner": "stranger"}, "bad_owner", "owner"),
        ({"owner": "left"}, "bad_owner", "owner"),
        ({"due_date": date(2026, 2, 9)}, "due_past", "due_date"),
        ({"due_date": "2026-03-01"}, "bad_due", "due_date"),
        ({"text": ""}, "no_text", "text"),
        ({"text": "x" * 501}, "too_long", "text"),
    ],
)
def test_a_bad_action_item_is_refused(live, change, code, field):
    owner = {"stranger": UserFactory(), "left": live.users[2]}.get(change.get("owner"))
    if change.get("owner") == "left":
        Membership.objects.filter(user=owner).update(status=MembershipStatus.LEFT)
    fields = {"owner": live.backup, "text": "Do it", "due_date": None, **change}
    if owner is not None:
        fields["owner"] = owner
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.action_item_create(actor=live.chair, meeting=live.meeting, **fields)

    assert (refused.value.code, refused.value.field) == (code, field)
    assert minutes_state() == before


def test_a_member_cannot_create_action_items(live):
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.action_item_create(
            actor=live.users[2], meeting=live.meeting, owner=live.users[2], text="Me"
        )

    assert refused.value.code == "not_recorder"
    assert minutes_state() == before


@pytest.fixture
def action(live):
    return services.action_item_create(
        actor=live.chair, meeting=live.meeting, owner=live.backup, text="Send the list"
    )


def test_the_owner_marks_their_action_item_done(live, action):
    done = services.action_item_status_set(
        actor=live.backup, action_item=action, status=ActionStatus.DONE, now=at(live, 100)
    )

    stored = ActionItem.objects.get(pk=action.pk)
    assert (stored.status, stored.status_changed_by, stored.status_changed_at) == (
        ActionStatus.DONE,
        live.backup,
        at(live, 100),
    )
    assert done.status == ActionStatus.DONE


def test_a_manager_drops_someone_else_action_item(live, action):
    services.action_item_status_set(
        actor=live.manager, action_item=action, status=ActionStatus.DROPPED
    )

    assert ActionItem.objects.get(pk=action.pk).status == ActionStatus.DROPPED


@pytest.mark.parametrize("who", ["chair", "member", "stranger"])
def test_others_cannot_change_an_action_item(live, action, who):
    actor = {"chair": live.chair, "member": live.users[2], "stranger": UserFactory()}[who]
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.action_item_status_set(actor=actor, action_item=action, status=ActionStatus.DONE)

    assert (refused.value.code, refused.value.forbidden) == ("not_owner", True)
    assert str(refused.value.message) == (
        "Only its owner and the managers can change this action item."
    )
    assert minutes_state() == before


def test_a_bad_status_is_refused(live, action):
    before = minutes_state()

    with pytest.raises(services.MinutesError) as refused:
        services.action_item_status_set(actor=live.backup, action_item=action, status="finished")

    assert (refused.value.code, refused.value.field) == ("bad_status", "status")
    assert minutes_state() == before


def test_the_same_status_again_changes_nothing(live, action):
    before = minutes_state()

    services.action_item_status_set(actor=live.backup, action_item=action, status="open")

    assert minutes_state() == before


@pytest.mark.postgres
def test_two_processes_drafting_at_once_make_one_draft(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers are tested on PostgreSQL (DATABASE_URL=postgres://...)")
    w = world()
    run_until_end(w)
    meeting_end(w)  # committed: its callback drafted already; start again without it
    Minutes.objects.all().delete()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            services.minutes_draft_generate(meeting=w.meeting, now=at(w, 60))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert Minutes.objects.count() == 1
    assert MinutesRevision.objects.count() == 1
