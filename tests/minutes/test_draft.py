"""The draft's Markdown from facts made by hand (no database): each part alone, escaping,
the order of the sections, the community's language and zone."""

from datetime import UTC, date, datetime

from agendas.enums import ItemKind
from minutes import draft
from minutes.draft import ActionFacts, ItemFacts, MinutesFacts, NextMeeting, RoundtableLine
from tests.minutes.helpers import sections

START = datetime(2026, 2, 10, 20, 2, tzinfo=UTC)  # 12:02 in Vancouver
END = datetime(2026, 2, 10, 20, 55, tzinfo=UTC)


def facts(**fields) -> MinutesFacts:
    values = {
        "language": "en",
        "zone": "America/Vancouver",
        "community": "Night shifts",
        "title": "Monthly call",
        "starts_at": datetime(2026, 2, 10, 20, tzinfo=UTC),
        "started_at": START,
        "ended_at": END,
        "chair": "Ann",
    }
    return MinutesFacts(**{**values, **fields})


def test_header_has_the_date_in_the_community_zone_the_chair_and_who_came():
    lines = draft.header(
        facts(present=("Ann", "Bob"), regrets=("Cy",), absent=("Dee",)),
    )

    assert lines == [
        "# Minutes: Monthly call, Feb. 10, 2026",
        "",
        "- **Date:** Feb. 10, 2026, 12:02 p.m.–12:55 p.m. (America/Vancouver)",  # noqa: RUF001
        "- **Community:** Night shifts",
        "- **Chair:** Ann",
        "- **Present:** Ann, Bob",
        "- **Regrets:** Cy",
        "- **Absent:** Dee",
    ]


def test_header_of_a_meeting_that_never_ran_has_its_planned_day_and_nobody():
    lines = draft.header(facts(started_at=None, ended_at=None, chair=""))

    assert lines[2] == "- **Date:** Feb. 10, 2026 (America/Vancouver)"
    assert lines[4:] == ["- **Chair:** no chair", "- **Present:** nobody", "- **Regrets:** nobody"]


def test_the_day_is_the_community_zone_day_not_utc():
    late = datetime(2026, 2, 11, 4, 30, tzinfo=UTC)  # 20:30 on the 10th in Vancouver

    assert draft.day(late, "America/Vancouver") == "Feb. 10, 2026"
    assert draft.day(late, "America/St_Johns") == "Feb. 11, 2026"  # 01:00 on the 11th


def test_item_times():
    assert draft.span(START, END, "America/Vancouver") == "12:02 p.m.–12:55 p.m."  # noqa: RUF001
    assert draft.span(START, None, "America/Vancouver") == "from 12:02 p.m."
    assert draft.span(None, None, "America/Vancouver") == "not taken up"


def test_new_members_part():
    assert draft.new_members_part(facts(new_members=("Zoë",))) == [
        "New members introduced:",
        "",
        "- Zoë",
    ]
    assert draft.new_members_part(facts()) == ["No new members since the last meeting."]


def test_roundtable_part_lists_each_line_said():
    lines = draft.roundtable_part(
        facts(
            roundtable=(
                RoundtableLine("Ann", "A new triage list", "Tell us what you track"),
                RoundtableLine("Bob", "", "Volunteers for a pilot"),
            )
        )
    )

    assert lines == [
        "- **Ann**",
        "  - A challenge or success: A new triage list",
        "  - How others can help: Tell us what you track",
        "- **Bob**",
        "  - How others can help: Volunteers for a pilot",
    ]
    assert draft.roundtable_part(facts()) == ["No roundtable lines were recorded."]


def test_members_text_is_escaped_to_read_as_typed():
    assert draft.escape("**bold** <b>x</b> [a](javascript:alert(1))") == (
        r"\*\*bold\*\* \<b\>x\</b\> \[a\](javascript:alert(1))"
    )
    assert draft.escape("# not a heading") == r"\# not a heading"
    assert draft.escape("- not a list") == r"\- not a list"
    assert draft.escape("1. not a list") == r"1\. not a list"
    assert draft.escape("a\nb   c") == "a b c"
    assert draft.escape("Tom & Jerry_s") == r"Tom \& Jerry\_s"


def test_focus_part():
    assert draft.focus_part(facts(focus_topic="Sleep", presenter="Dr. Guest")) == [
        "- **Focus topic:** Sleep",
        "- **Presenter:** Dr. Guest",
    ]
    assert draft.focus_part(facts()) == ["- **Focus topic:** none set"]


def test_next_part_has_the_topics_and_the_next_meeting_date_and_chair():
    upcoming = NextMeeting(starts_at=datetime(2026, 3, 10, 19, tzinfo=UTC), chair="Bob")

    lines = draft.next_part(facts(topics_next=("Scribes",), next_meeting=upcoming))

    assert lines == [
        "Topics chosen for next time:",
        "",
        "- Scribes",
        "",
        "Next meeting: March 10, 2026 at noon (America/Vancouver); chair: Bob.",
    ]


def test_next_part_without_topics_or_a_next_meeting():
    assert draft.next_part(facts()) == [
        "No topics were chosen for next time.",
        "",
        "The next meeting is not scheduled yet.",
    ]
    upcoming = NextMeeting(starts_at=datetime(2026, 3, 10, 19, tzinfo=UTC), chair="")
    assert draft.next_part(facts(next_meeting=upcoming))[-1] == (
        "Next meeting: March 10, 2026 at noon (America/Vancouver); chair: no chair yet."
    )


def test_decisions_and_action_items():
    lines = draft.actions_part(
        facts(
            actions=(
                ActionFacts("Send the list", "Bob", date(2026, 3, 1)),
                ActionFacts("Book a room", "", None),
            )
        )
    )

    assert lines == ["- Send the list — Bob, due March 1, 2026", "- Book a room — nobody"]
    assert draft.decisions_part(facts(decisions=("Share it.",))) == ["- Share it."]
    assert draft.decisions_part(facts()) == ["No decisions were recorded."]
    assert draft.actions_part(facts()) == ["No action items were recorded."]


def test_a_note_of_several_lines_stays_in_its_list_item():
    assert draft.notes_part(("First line\nsecond line\n\n- a sub-point",)) == [
        "**Notes**",
        "",
        "- First line\n  second line\n\n  - a sub-point",
    ]


def test_each_item_has_its_times_its_kind_part_and_its_notes_in_order():
    body = draft.draft_render(
        facts(
            items=(
                ItemFacts("New members", ItemKind.INTRODUCTIONS, START, START),
                ItemFacts("Budget", ItemKind.OTHER, START, END, notes=("Approved.",)),
            ),
            new_members=("Zoë",),
            notes=("Recording saved.",),
            decisions=("Share it.",),
        )
    )

    parts = sections(body)
    assert list(parts) == [
        "",
        "1. New members",
        "2. Budget",
        "Future agenda and next meeting",
        "Other notes",
        "Decisions",
        "Action items",
    ]
    assert parts["1. New members"] == (
        "*12:02 p.m.–12:02 p.m.*\n\nNew members introduced:\n\n- Zoë"  # noqa: RUF001
    )
    assert parts["2. Budget"] == "*12:02 p.m.–12:55 p.m.*\n\n**Notes**\n\n- Approved."  # noqa: RUF001
    assert parts["Other notes"] == "- Recording saved."
    assert parts["Decisions"] == "- Share it."
    assert body.endswith("No action items were recorded.\n")


def test_a_standing_part_without_its_item_gets_a_heading_only_when_it_has_something():
    body = draft.draft_render(facts(roundtable=(RoundtableLine("Ann", "Hello", ""),)))

    parts = sections(body)
    assert "Current progress / initiatives roundtable" in parts
    assert "New members introduction" not in parts
    assert "Focus presentation" not in parts
    assert parts["Future agenda and next meeting"].endswith("not scheduled yet.")


def test_an_item_title_is_escaped():
    body = draft.draft_render(facts(items=(ItemFacts("<b>Budget</b>", "other", None, None),)))

    assert r"## 1. \<b\>Budget\</b\>" in body.splitlines()
    assert "*not taken up*" in body


def test_the_draft_is_in_the_community_language():
    body = draft.draft_render(
        facts(
            language="fr",
            items=(ItemFacts("Tour de table", ItemKind.ROUNDTABLE, START, END),),
        )
    )

    assert body.splitlines()[0].endswith("10 février 2026")
    assert "*12:02–12:55*" in body  # noqa: RUF001
