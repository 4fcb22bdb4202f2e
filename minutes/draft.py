"""The draft minutes as pure functions: the facts of a meeting (gathered by
`selectors.minutes_facts`) in, Markdown out — no database, so each part is tested alone.

Names, roundtable lines and topic titles are what members typed: they are escaped, so they
read as typed in the Markdown. Notes, decisions and action items are what the chair and
managers wrote for the minutes: they are kept as Markdown (and sanitised when rendered,
`minutes.markdown`).
"""

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import formats, translation
from django.utils.translation import gettext as _

from agendas.enums import ItemKind


@dataclass(frozen=True)
class ItemFacts:
    title: str
    kind: str
    started_at: datetime | None
    ended_at: datetime | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoundtableLine:
    name: str
    challenge: str
    help_wanted: str


@dataclass(frozen=True)
class ActionFacts:
    text: str
    owner: str  # empty: nobody (the owner's account is gone)
    due: date | None


@dataclass(frozen=True)
class NextMeeting:
    starts_at: datetime
    chair: str  # empty: no chair yet


@dataclass(frozen=True)
class MinutesFacts:
    """What the minutes say about one meeting, as plain values."""

    language: str
    zone: str  # the community's IANA zone: every time is written in it
    community: str
    title: str
    starts_at: datetime  # as planned
    started_at: datetime | None  # as run
    ended_at: datetime | None
    chair: str
    present: tuple[str, ...] = ()
    regrets: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    items: tuple[ItemFacts, ...] = ()
    new_members: tuple[str, ...] = ()
    roundtable: tuple[RoundtableLine, ...] = ()
    focus_topic: str = ""
    presenter: str = ""
    notes: tuple[str, ...] = ()  # notes on no item
    decisions: tuple[str, ...] = ()
    actions: tuple[ActionFacts, ...] = ()
    topics_next: tuple[str, ...] = ()
    next_meeting: NextMeeting | None = None


# Markdown ------------------------------------------------------------------------------

EN_DASH = "\N{EN DASH}"
_INLINE = re.compile(r"([\\`*_\[\]<>|~&!])")
_BLOCK_START = re.compile(r"^(\s*)([#>+=-])")
_ORDERED_START = re.compile(r"^(\s*\d+)([.)])")


def escape(text: str) -> str:
    """`text` as it reads, in Markdown: one line, no emphasis, link, HTML or entity, and
    nothing that starts a heading, quote or list."""
    text = " ".join(str(text or "").split())
    text = _INLINE.sub(r"\\\1", text)
    text = _BLOCK_START.sub(r"\1\\\2", text)
    return _ORDERED_START.sub(r"\1\\\2", text)


def _bullet(markdown: str) -> str:
    """A list item of a (possibly several-line) Markdown text: its lines stay in it."""
    lines = str(markdown).strip().splitlines() or [""]
    return "\n".join(
        ["- " + lines[0], *(("  " + line) if line.strip() else "" for line in lines[1:])]
    )


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(escape(name) for name in names) if names else _("nobody")


# Times, in the community's zone and language -------------------------------------------


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def day(moment: datetime, zone: str) -> str:
    return formats.date_format(_local(moment, zone), "DATE_FORMAT")


def clock(moment: datetime, zone: str) -> str:
    return formats.time_format(_local(moment, zone), "TIME_FORMAT")


def span(start: datetime | None, end: datetime | None, zone: str) -> str:
    """From one time to the other, "12:02-12:09" with an en dash (an item that never
    started: "not taken up")."""
    if start is None:
        return _("not taken up")
    if end is None:
        return _("from %(start)s") % {"start": clock(start, zone)}
    return f"{clock(start, zone)}{EN_DASH}{clock(end, zone)}"


# The parts -----------------------------------------------------------------------------


def fact(label: str, value: str) -> str:
    """A list line "**Label:** value" (the pattern translated: French puts a space before
    the colon)."""
    # Translators: a fact in the minutes, e.g. "**Chair:** Ann"; keep the ** around the label.
    return "- " + _("**%(label)s:** %(value)s") % {"label": label, "value": value}


def header(facts: MinutesFacts) -> list[str]:
    when = facts.started_at or facts.starts_at
    held = day(when, facts.zone)
    if facts.started_at:
        held += ", " + span(facts.started_at, facts.ended_at, facts.zone)
    lines = [
        "# "
        + _("Minutes: %(title)s, %(day)s")
        % {"title": escape(facts.title), "day": day(when, facts.zone)},
        "",
        fact(_("Date"), f"{held} ({facts.zone})"),
        fact(_("Community"), escape(facts.community)),
        fact(_("Chair"), escape(facts.chair) if facts.chair else _("no chair")),
        fact(_("Present"), _names(facts.present)),
        fact(_("Regrets"), _names(facts.regrets)),
    ]
    if facts.absent:
        lines.append(fact(_("Absent"), _names(facts.absent)))
    return lines


def new_members_part(facts: MinutesFacts) -> list[str]:
    if not facts.new_members:
        return [_("No new members since the last meeting.")]
    return [_("New members introduced:"), "", *("- " + escape(n) for n in facts.new_members)]


def roundtable_part(facts: MinutesFacts) -> list[str]:
    if not facts.roundtable:
        return [_("No roundtable lines were recorded.")]
    lines = []
    for line in facts.roundtable:
        lines.append(f"- **{escape(line.name)}**")
        if line.challenge:
            lines.append(
                "  - " + _("A challenge or success: %(text)s") % {"text": escape(line.challenge)}
            )
        if line.help_wanted:
            lines.append(
                "  - " + _("How others can help: %(text)s") % {"text": escape(line.help_wanted)}
            )
    return lines


def focus_part(facts: MinutesFacts) -> list[str]:
    topic = escape(facts.focus_topic) if facts.focus_topic else _("none set")
    lines = [fact(_("Focus topic"), topic)]
    if facts.presenter:
        lines.append(fact(_("Presenter"), escape(facts.presenter)))
    return lines


def next_part(facts: MinutesFacts) -> list[str]:
    lines = []
    if facts.topics_next:
        lines += [_("Topics chosen for next time:"), ""]
        lines += ["- " + escape(title) for title in facts.topics_next]
    else:
        lines.append(_("No topics were chosen for next time."))
    lines.append("")
    upcoming = facts.next_meeting
    if upcoming is None:
        lines.append(_("The next meeting is not scheduled yet."))
    else:
        chair = escape(upcoming.chair) if upcoming.chair else _("no chair yet")
        lines.append(
            _("Next meeting: %(day)s at %(time)s (%(zone)s); chair: %(chair)s.")
            % {
                "day": day(upcoming.starts_at, facts.zone),
                "time": clock(upcoming.starts_at, facts.zone),
                "zone": facts.zone,
                "chair": chair,
            }
        )
    return lines


def decisions_part(facts: MinutesFacts) -> list[str]:
    if not facts.decisions:
        return [_("No decisions were recorded.")]
    return [_bullet(text) for text in facts.decisions]


def actions_part(facts: MinutesFacts) -> list[str]:
    if not facts.actions:
        return [_("No action items were recorded.")]
    lines = []
    for action in facts.actions:
        owner = escape(action.owner) if action.owner else _("nobody")
        if action.due is not None:
            who = _("%(owner)s, due %(due)s") % {
                "owner": owner,
                "due": formats.date_format(action.due, "DATE_FORMAT"),
            }
        else:
            who = owner
        lines.append(_bullet(f"{action.text.strip()} — {who}"))
    return lines


def notes_part(notes: tuple[str, ...]) -> list[str]:
    if not notes:
        return []
    return ["**" + _("Notes") + "**", "", *(_bullet(note) for note in notes)]


# Each standing kind's own part, under its item (or a heading of its own without one).
KIND_PARTS = {
    ItemKind.INTRODUCTIONS: new_members_part,
    ItemKind.ROUNDTABLE: roundtable_part,
    ItemKind.FOCUS: focus_part,
    ItemKind.FUTURE: next_part,
}


def _has_part(facts: MinutesFacts, kind: str) -> bool:
    """Whether a standing kind the agenda lacks has something to say all the same (the
    next meeting always has)."""
    return {
        ItemKind.INTRODUCTIONS: bool(facts.new_members),
        ItemKind.ROUNDTABLE: bool(facts.roundtable),
        ItemKind.FOCUS: bool(facts.focus_topic or facts.presenter),
        ItemKind.FUTURE: True,
    }[kind]


def _kind_heading(kind: str) -> str:
    return str(ItemKind(kind).label)


def _section(heading: str, body: list[str]) -> list[str]:
    return ["", f"## {heading}", "", *body]


def draft_render(facts: MinutesFacts) -> str:
    """The draft minutes in the community's language, as Markdown."""
    with translation.override(facts.language):
        lines = header(facts)
        done_kinds = set()
        for number, item in enumerate(facts.items, start=1):
            body = ["*" + span(item.started_at, item.ended_at, facts.zone) + "*"]
            part = KIND_PARTS.get(item.kind)
            if part is not None and item.kind not in done_kinds:
                done_kinds.add(item.kind)
                body += ["", *part(facts)]
            if item.notes:
                body += ["", *notes_part(item.notes)]
            lines += _section(f"{number}. {escape(item.title)}", body)
        for kind, part in KIND_PARTS.items():
            if kind not in done_kinds and _has_part(facts, kind):
                lines += _section(_kind_heading(kind), part(facts))
        if facts.notes:
            lines += _section(_("Other notes"), [_bullet(note) for note in facts.notes])
        lines += _section(_("Decisions"), decisions_part(facts))
        lines += _section(_("Action items"), actions_part(facts))
        return "\n".join(lines).rstrip() + "\n"
