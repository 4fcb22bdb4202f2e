"""What the minutes tests share: a community's February meeting run through the agendas'
services from start to end (its chair, a newcomer, a roundtable with a private line, a
focus, notes, a decision and an action item), the draft's sections by heading, and a
snapshot of every minutes row to show that a refusal changed nothing."""

from dataclasses import dataclass
from datetime import date, timedelta

from agendas import services as agenda_services
from agendas.models import Agenda, AgendaItem
from meetings import services as meeting_services
from meetings.models import Meeting
from minutes import services
from minutes.models import ActionItem, Decision, LinesWithheld, Minutes, MinutesRevision, Note
from tests.meetings.helpers import NOW, community_with, meetings_of, member_add, series_make

MINUTE = timedelta(minutes=1)


@dataclass
class World:
    community: object
    manager: object
    users: list  # Member A (the chair), Member B (the backup), Member C (answered no)
    newcomer: object
    meetings: list[Meeting]
    meeting: Meeting  # the one run: February 10th, 2026, at noon in Vancouver
    agenda: Agenda
    items: list[AgendaItem]  # the five standing items

    @property
    def chair(self):
        return self.users[0]

    @property
    def backup(self):
        return self.users[1]

    def item(self, kind: str) -> AgendaItem:
        return next(item for item in self.items if item.kind == kind)


def world(**community_fields) -> World:
    """The community (made 500 days before NOW), its manager, Members A, B and C, its
    monthly meetings; the second has A as its chair and B as backup, a newcomer joined
    since the first, C answered no; its agenda (the standing one) has a focus topic and a
    guest presenter; a topic is chosen at it. The meeting after it is chaired by B."""
    community_fields.setdefault("created_at", NOW - timedelta(days=500))
    community, manager, users = community_with(3, **community_fields)
    meetings = meetings_of(series_make(community, manager))
    meeting = meetings[1]
    newcomer = member_add(
        community, joined=meetings[0].starts_at + timedelta(days=7), name="Newcomer"
    )
    Meeting.objects.filter(pk=meeting.pk).update(
        chair=users[0], backup=users[1], chair_confirmed_at=NOW
    )
    Meeting.objects.filter(pk=meetings[2].pk).update(chair=users[1], chair_confirmed_at=NOW)
    meeting.refresh_from_db()
    meeting_services.answer_set(user=users[2], meeting=meeting, response="no", now=NOW)
    agenda = agenda_services.agenda_ensure(meeting=meeting, now=NOW)
    agenda_services.agenda_focus_set(
        actor=manager,
        agenda=agenda,
        focus_topic="Sleep and shift work",
        presenter_name="Dr. Guest",
        now=NOW,
    )
    topic = agenda_services.topic_propose(
        user=users[2], community=community, title="Scribes in clinic", now=NOW
    )
    agenda_services.topic_choose(actor=manager, topic=topic, meeting=meeting, now=NOW)
    items = list(agenda.items.order_by("position", "pk"))
    return World(community, manager, users, newcomer, meetings, meeting, agenda, items)


def at(w: World, minutes: int):
    """`minutes` after the meeting's planned start."""
    return w.meeting.starts_at + minutes * MINUTE


def command(w: World, name: str, minutes: int, **args):
    return agenda_services.run_command(
        actor=w.chair, meeting=w.meeting, command=name, args=args or None, now=at(w, minutes)
    )


def run_until_end(w: World) -> None:
    """The meeting, live: started two minutes late with A, B and the newcomer present;
    each item in turn; three roundtable turns (B's lines not for the minutes); a note on
    the focus, a decision and an action item for B during the discussion. Not ended."""
    present = [w.chair.pk, w.backup.pk, w.newcomer.pk]
    agenda_services.run_presence_set(meeting_id=w.meeting.pk, present=present, now=at(w, 1))
    command(w, "meeting.start", 2)
    command(w, "agenda.next", 7)
    command(w, "roundtable.start", 7, order="alphabetical")  # A, B, then the newcomer
    lines = [
        (w.chair, "We started a shared triage list", "Tell us what you track", False),
        (w.backup, "My clinic is closing", "Nothing to share yet", True),
        (w.newcomer, "**New** here <b>hi</b> [x](javascript:alert(1))", "", False),
    ]
    for number, (user, challenge, help_wanted, private) in enumerate(lines):
        agenda_services.turn_lines_set(
            user=user,
            meeting=w.meeting,
            challenge=challenge,
            help_wanted=help_wanted,
            private=private,
            now=at(w, 7 + number),
        )
        command(w, "turn.next", 8 + number)
    command(w, "agenda.next", 11)  # the focus
    services.note_add(
        actor=w.chair,
        meeting=w.meeting,
        text="Rotate night shifts *forward*.",
        item=w.item("focus"),
        now=at(w, 20),
    )
    command(w, "agenda.next", 26)  # the open discussion
    services.decision_add(
        actor=w.chair, meeting=w.meeting, text="Share the triage list.", now=at(w, 30)
    )
    services.action_item_create(
        actor=w.chair,
        meeting=w.meeting,
        owner=w.backup,
        text="Send the triage list to everyone",
        due_date=date(2026, 3, 1),
        now=at(w, 31),
    )
    services.note_add(actor=w.manager, meeting=w.meeting, text="Recording saved.", now=at(w, 40))
    command(w, "agenda.next", 46)  # the future agenda


def meeting_end(w: World, minutes: int = 55):
    return command(w, "meeting.end", minutes)


def sections(body: str) -> dict[str, str]:
    """The draft's parts by heading ("" for what precedes the first "## ")."""
    found, heading, lines = {}, "", []
    for line in body.splitlines():
        if line.startswith("## "):
            found[heading] = "\n".join(lines).strip()
            heading, lines = line[3:], []
        else:
            lines.append(line)
    found[heading] = "\n".join(lines).strip()
    return found


def minutes_state() -> dict:
    """Every row the minutes services write: equal before and after a refused action
    means it changed nothing."""
    models = [Minutes, MinutesRevision, Note, Decision, ActionItem, LinesWithheld]
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}
