"""Fuzzing the room socket (hypothesis): whatever a client sends, the socket stays open,
answers as docs/protocol.md says, and stores nothing invalid.

In process, through WebsocketCommunicator against the real ASGI application (origin check,
session, router). Each example gets a room of its own (two messages by the fuzzing member,
two by another; the fuzzing member a manager or not) and a fresh socket, then sends its
frames one at a time. After each frame, the frames that come back until the socket is quiet
for QUIET seconds are its answer (presence and heartbeat frames are nobody's answer):

- the socket never closes and the application never fails (Daphne would close with 1011),
  every frame it sends can be sent as a WebSocket text frame (valid UTF-8: a lone surrogate
  cannot be, and Daphne closes with 1011 when it tries), and no ERROR with a traceback is
  logged;
- a bad frame gets exactly one `error`, with a code (never `server_error`), repeating the
  frame's `request_id` when it carried a valid one; the protocol's own code where it names
  one (`invalid_text`, `bad_json`, `empty_body`);
- a well-formed frame gets its answer (`message.new`, `message.updated`, `history`, `pong`,
  `report.received`) or exactly one `error`, as the room's state says it should; `typing`
  gets nothing; a delete, hide or restore that changes nothing (done already) still gets a
  `message.updated`, repeating the `request_id`;
- messages only grow by the valid `message.send` frames of new client_ids, and no stored
  body or reason holds a lone surrogate or a control character (other than tab, LF, CR),
  nor is a body only invisible characters.

A `request_id` that is not valid (too long, not a string, with a control character or a
lone surrogate) is either ignored or makes the frame bad: the protocol does not say which,
so either answer passes, and no answer may repeat it.
"""

import contextlib
import json
import logging
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from hypothesis import HealthCheck, example, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from chatserver.asgi import application
from communities.enums import Role
from live.frames import INT_MAX
from rooms.models import Message, Report
from rooms.services import room_get_or_create_for_community
from tests.factories import CommunityFactory, MembershipFactory, MessageFactory, UserFactory
from tests.rooms.conftest import session_cookie

pytestmark = [pytest.mark.ci_once, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
# A hypothesis test runs for about 40 s; one that fails shrinks for up to 300 s more.
FUZZ_TIMEOUT = pytest.mark.timeout(600)

QUIET = 0.2  # seconds of silence that end an answer
ANSWER_WITHIN = 2.0  # seconds for the first frame of an answer to come (a loaded machine)
BIGINT = 2**63 - 1  # what a database bigint holds; the protocol refuses past INT_MAX (2**53 - 1)

# Not text: lone surrogates, C0 controls but tab, LF and CR, DEL, C1 controls (some of them
# whitespace to str.strip()).
BAD_CHARACTERS = [
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1c", "\x1f", "\x7f",
    "\x80", "\x85", "\x9b", "\x9f",
    "\ud800", "\udbff", "\udc00", "\udfff",
]  # fmt: skip
# Invisible, yet not whitespace to str.strip(): zero-width characters, Hangul fillers, the
# braille blank. A body of these and whitespace alone is empty.
INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u115f\u1160\u3164\uffa0\u2800"
WHITESPACE = (
    " \t\n\r\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
ABSENT = object()  # a field left out


# What the tests judge by -----------------------------------------------------------------


def text_defect(text: str) -> str | None:
    """What makes `text` not text: a lone surrogate or a control character."""
    for character in text:
        if "\ud800" <= character <= "\udfff":
            return f"lone surrogate U+{ord(character):04X}"
        if unicodedata.category(character) == "Cc" and character not in "\t\n\r":
            return f"control character U+{ord(character):04X}"
    return None


def invisible_only(text: str) -> bool:
    return all(character.isspace() or character in INVISIBLE for character in text)


def request_id_valid(value) -> bool:
    return isinstance(value, str) and len(value) <= 64 and text_defect(value) is None


@dataclass(frozen=True)
class Probe:
    """One frame to send and what is wrong with it, if anything."""

    text: str | None = None  # a text frame
    data: bytes | None = None  # or a binary one
    frame: object = None  # the JSON the text holds, when the test built it from a value
    fault: str = ""  # why the frame is bad ("": well-formed)
    code: str | None = None  # the error code docs/protocol.md names for the fault, if any
    retry: bool = False  # a bad message.send: a retry of a stored client_id may be answered

    @classmethod
    def of(cls, frame, *, ascii_only: bool = True, **fault) -> "Probe":
        # Lone surrogates only go as JSON escapes: a text frame itself must be UTF-8.
        ascii_only = ascii_only or _has_surrogate(frame)
        return cls(text=json.dumps(frame, ensure_ascii=ascii_only), frame=frame, **fault)

    @property
    def request_id(self):
        if isinstance(self.frame, dict):
            return self.frame.get("request_id", ABSENT)
        return ABSENT

    def __repr__(self) -> str:
        shown = self.text if self.text is not None else self.data
        if len(shown) > 160:
            shown = f"{shown[:120]!r}...{shown[-20:]!r} ({len(shown)} long)"
        else:
            shown = repr(shown)
        return f"Probe({shown}{', ' + self.fault if self.fault else ''})"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))  # hypothesis prints failing examples so, not field by field


def _has_surrogate(value) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= character <= "\udfff" for character in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


# Strategies ----------------------------------------------------------------------------

# Text that is text: anything but controls and lone surrogates, with invisible characters
# and whitespace (tab, LF, CR included) mixed in.
clean_characters = st.one_of(
    st.characters(exclude_categories=("Cs", "Cc")),
    st.sampled_from(INVISIBLE + WHITESPACE),
)
# Characters nobody mistakes for blank: at least one in every valid body or reason.
visible_characters = st.characters(categories=("L", "N", "P", "S"), exclude_characters=INVISIBLE)


def clean_text(min_size: int = 0, max_size: int = 20):
    return st.text(clean_characters, min_size=min_size, max_size=max_size)


@st.composite
def visible_text(draw, max_size: int = 20) -> str:
    """Clean text with something visible in it."""
    return (
        draw(clean_text(max_size=max_size))
        + draw(st.text(visible_characters, min_size=1, max_size=max_size))
        + draw(clean_text(max_size=max_size))
    )


@st.composite
def tainted(draw, text) -> str:
    """`text` (or nothing) with one character that is not text in it, anywhere."""
    value = draw(st.one_of(st.just(""), text))
    at = draw(st.integers(0, len(value)))
    return value[:at] + draw(st.sampled_from(BAD_CHARACTERS)) + value[at:]


valid_bodies = st.one_of(visible_text(), st.sampled_from(["x" * 4000, " \n" + "y" * 4000 + " "]))
invisible_bodies = st.text(st.sampled_from(INVISIBLE + WHITESPACE), min_size=0, max_size=8)
valid_client_ids = st.one_of(
    st.sampled_from(["c1", "c2", "c3"]),  # few: sends of one example repeat them (retries)
    st.uuids().map(lambda u: u.hex),
    st.text(visible_characters, min_size=1, max_size=64),
)
valid_reasons = visible_text(max_size=30)
# Mostly the seeded messages' (1 to 4), so changes and their repeats meet real messages.
seqs = st.one_of(
    st.integers(1, 4), st.integers(1, 4), st.integers(5, 7), st.sampled_from([BIGINT, 10**20])
)
valid_request_ids = st.one_of(
    st.text(clean_characters, max_size=64), st.uuids().map(lambda u: u.hex)
)
# Not valid, yet text: too long, or not a string.
odd_request_ids = st.one_of(
    st.text(clean_characters, min_size=65, max_size=80),
    st.sampled_from([None, 7, 1.5, True, ["r"], {"id": "r"}]),
)
invalid_request_ids = st.one_of(odd_request_ids, tainted(st.text(clean_characters, max_size=20)))
request_ids = st.one_of(st.just(ABSENT), st.just(ABSENT), valid_request_ids, invalid_request_ids)
# For the test of answers: request_ids that are not text have a test of their own.
text_request_ids = st.one_of(st.just(ABSENT), st.just(ABSENT), valid_request_ids, odd_request_ids)
ignored_fields = st.one_of(
    st.just({}),
    st.just({}),
    st.dictionaries(
        st.sampled_from(["extra", "x", "seq_", "version"]),
        st.one_of(st.integers(), st.text(visible_characters, max_size=5), st.none()),
        max_size=2,
    ),
)

# A well-formed frame's fields, by type.
FIELDS = {
    "message.send": st.fixed_dictionaries({"body": valid_bodies, "client_id": valid_client_ids}),
    "message.edit": st.fixed_dictionaries({"seq": seqs, "body": valid_bodies}),
    "message.delete": st.fixed_dictionaries({"seq": seqs}),
    "message.hide": st.fixed_dictionaries({"seq": seqs}),
    "message.restore": st.fixed_dictionaries({"seq": seqs}),
    "message.report": st.fixed_dictionaries({"seq": seqs, "reason": valid_reasons}),
    "history.fetch": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "before": st.one_of(st.integers(1, 10), st.sampled_from([BIGINT, 10**20])),
                "limit": st.integers(1, 100),
            },
        ),
        st.fixed_dictionaries(
            {"after": st.one_of(st.integers(0, 10), st.sampled_from([BIGINT, 10**20]))},
            optional={"limit": st.integers(1, 100)},
        ),
    ),
    "ping": st.just({}),
    "typing": st.just({}),
}
KINDS = sorted(FIELDS)
# Changes (and their repeats) twice as often as the rest, and first (what hypothesis
# tries first and shrinks towards).
KINDS_DRAWN = ["message.delete", "message.hide", "message.restore", *KINDS]

# Values of the wrong type for a number field and for a string field (null: missing).
WRONG_TYPES = [None, True, False, 1.5, -0.5, "1", [1], {"n": 1}, float("inf")]
WRONG_STRINGS = [None, 1, True, 0.5, ["text"], {"text": "x"}]


def wrong_values(kind: str, name: str):
    """(value, code): a value that makes field `name` of a `kind` frame bad, and the error
    code docs/protocol.md names for it (or None). ABSENT leaves the field out."""
    required = name in ("seq", "body", "client_id", "reason")
    options = []
    if required:
        options.append(st.just((ABSENT, None)))
    if name in ("seq", "before", "after", "limit"):
        wrong = [v for v in WRONG_TYPES if v is not None or required]
        out_of_range = {
            "seq": [0, -1, -(2**63)],
            "before": [0, -5],
            "after": [-1, -(2**64)],
            "limit": [0, 101, -1, 10**20],
        }[name]
        options.append(st.sampled_from(wrong + out_of_range).map(lambda v: (v, None)))
        return st.one_of(options)
    options.append(st.sampled_from(WRONG_STRINGS).map(lambda v: (v, None)))
    base = {"body": visible_text(), "client_id": visible_text(max_size=10)}.get(
        name, visible_text()
    )
    options.append(tainted(base).map(lambda v: (v, "invalid_text")))
    if name == "body":
        # Empty or invisible: the protocol's empty_body, for a send (an edit may first be
        # refused for its seq).
        code = "empty_body" if kind == "message.send" else None
        options.append(invisible_bodies.map(lambda v: (v, code)))
        options.append(st.just(("z" * 4001, None)))
    elif name == "client_id":
        options.append(st.sampled_from(["", "k" * 65]).map(lambda v: (v, None)))
    elif name == "reason":
        options.append(st.sampled_from(["", "  \n ", "r" * 501]).map(lambda v: (v, None)))
    return st.one_of(options)


@st.composite
def well_formed_frames(draw, request_ids=request_ids) -> Probe:
    kind = draw(st.sampled_from(KINDS_DRAWN))
    frame = {"type": kind, **draw(FIELDS[kind]), **draw(ignored_fields)}
    request_id = draw(request_ids)
    if request_id is not ABSENT:
        frame["request_id"] = request_id
    return Probe.of(frame, ascii_only=draw(st.booleans()))


FIELD_NAMES = {
    "message.send": ["body", "client_id"],
    "message.edit": ["seq", "body"],
    "message.delete": ["seq"],
    "message.hide": ["seq"],
    "message.restore": ["seq"],
    "message.report": ["seq", "reason"],
    "history.fetch": ["before", "after", "limit"],
}


@st.composite
def bad_field_frames(draw) -> Probe:
    """A well-formed frame but for one field (a history.fetch given a wrong `before` or
    `after` may hold both: bad as well)."""
    kind = draw(st.sampled_from(sorted(FIELD_NAMES)))
    frame = {"type": kind, **draw(FIELDS[kind])}
    name = draw(st.sampled_from(FIELD_NAMES[kind]))
    value, code = draw(wrong_values(kind, name))
    if value is ABSENT:
        frame.pop(name, None)
    else:
        frame[name] = value
    if any(isinstance(value, int) and value > INT_MAX for value in frame.values()):
        code = None  # that number may be what is refused first
    request_id = draw(st.one_of(st.just(ABSENT), valid_request_ids, invalid_request_ids))
    if request_id is not ABSENT:
        frame["request_id"] = request_id
        if not request_id_valid(request_id):
            code = None  # the request_id may be what is refused
    fault = f"{name} {'missing' if value is ABSENT else 'wrong'}"
    return Probe.of(
        frame, ascii_only=draw(st.booleans()), fault=fault, code=code, retry=kind == "message.send"
    )


@st.composite
def not_text_frames(draw) -> Probe:
    """A well-formed send, edit or report but for a string field that is not text (the
    protocol's invalid_text) or a send's body with nothing visible in it (empty_body); or
    a well-formed frame whose request_id is not text (ignored or refused, either)."""
    if draw(st.integers(0, 4)) == 0:
        probe = draw(well_formed_frames())
        frame = {**probe.frame, "request_id": draw(tainted(valid_request_ids))}
        return Probe.of(frame)
    kind = draw(st.sampled_from(["message.send", "message.edit", "message.report"]))
    frame = {"type": kind, **draw(FIELDS[kind])}
    name = draw(st.sampled_from([n for n in ("body", "client_id", "reason") if n in frame]))
    if kind == "message.send" and name == "body" and draw(st.integers(0, 3)) == 0:
        frame["body"], code = draw(invisible_bodies), "empty_body"
    else:
        base = valid_client_ids if name == "client_id" else visible_text()
        frame[name], code = draw(tainted(base)), "invalid_text"
    if draw(st.booleans()):
        frame["request_id"] = draw(valid_request_ids)
    if any(isinstance(value, int) and value > INT_MAX for value in frame.values()):
        code = None  # that number may be what is refused first
    fault = f"{name} {'has nothing visible' if code == 'empty_body' else 'is not text'}"
    return Probe.of(
        frame,
        ascii_only=draw(st.booleans()),
        fault=fault,
        code=code,
        retry=kind == "message.send",
    )


@st.composite
def both_bounds_frames(draw) -> Probe:
    frame = {"type": "history.fetch", "before": draw(st.integers(1, 9)), "after": 0}
    request_id = draw(st.one_of(st.just(ABSENT), valid_request_ids))
    if request_id is not ABSENT:
        frame["request_id"] = request_id
    return Probe.of(frame, fault="before and after")


@st.composite
def bad_type_frames(draw) -> Probe:
    """An object without a type the protocol lists (fields of a real one, maybe)."""
    frame = dict(draw(st.sampled_from([{}, {"body": "hi", "client_id": "t1"}, {"seq": 1}])))
    kind = draw(
        st.one_of(
            st.just(ABSENT),
            st.text(clean_characters, max_size=20).filter(lambda t: t not in FIELDS),
            st.sampled_from(["Ping", "ping ", " ping", "message.SEND", "message", "history", ""]),
            tainted(st.sampled_from(KINDS)),
            st.sampled_from(WRONG_STRINGS),
        )
    )
    if kind is not ABSENT:
        frame["type"] = kind
    request_id = draw(st.one_of(st.just(ABSENT), valid_request_ids, invalid_request_ids))
    if request_id is not ABSENT:
        frame["request_id"] = request_id
    return Probe.of(frame, ascii_only=draw(st.booleans()), fault="no known type")


def _names_a_frame(text: str) -> bool:
    try:
        content = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(content, dict) and content.get("type") in FIELDS


@st.composite
def nested_texts(draw) -> Probe:
    """Brackets nested deep: past 2000 levels the protocol's bad_json."""
    depth = draw(st.sampled_from([100, 500, 2000, 5000, 20000]))
    if depth < 2000:
        # Not a frame however deep; maybe too deep to read (the limit is the server's).
        text = draw(
            st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth])
        )
        return Probe(text=text, fault=f"nested {depth} deep")
    text = draw(
        st.sampled_from(
            [
                "[" * depth,
                "[" * depth + "]" * depth,
                '{"a":' * depth + "1" + "}" * depth,
                '{"type":"ping","x":' + "[" * depth + "]" * depth + "}",
                '{"type":"message.send","client_id":"n1","body":' + "[" * depth + "]" * depth + "}",
            ]
        )
    )
    return Probe(text=text, fault=f"nested {depth} deep", code="bad_json")


not_json_texts = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "{",
            '{"type": "ping"',
            "{'type': 'ping'}",
            '{"type": "ping",}',
            '{"type": "message.send", "body": "\x00", "client_id": "raw"}',  # raw control
            '{"type": "history.fetch", "before": NaN}',
            '{"type": "history.fetch", "after": -Infinity}',
            '{"type": "message.delete", "seq": ' + "9" * 5000 + "}",
            "\ufeff",
            "null",
        ]
    ),
).filter(lambda text: not _names_a_frame(text))
not_object_values = st.one_of(
    st.sampled_from([None, True, 0, -1.5, "ping", [], [{"type": "ping"}], ["message.send"]]),
    st.lists(st.integers(), max_size=3),
    st.text(clean_characters, max_size=10),
)

bad_frames = st.one_of(
    not_text_frames(),
    bad_field_frames(),
    bad_field_frames(),
    bad_type_frames(),
    both_bounds_frames(),
    nested_texts(),
    not_json_texts.map(lambda text: Probe(text=text, fault="not a JSON object")),
    not_object_values.map(lambda value: Probe.of(value, fault="not an object")),
    st.binary(min_size=1, max_size=40).map(lambda data: Probe(data=data, fault="binary")),
    st.just(Probe(data=b'{"type": "ping"}', fault="binary")),
)


@st.composite
def repeated(draw, frames) -> list[Probe]:
    """A frame sent once, or several times over (a delete, hide or restore done again)."""
    probe = draw(frames)
    return [probe] * draw(st.sampled_from([1, 2, 1, 3]))


def flat(groups: list[list[Probe]]) -> list[Probe]:
    return [probe for group in groups for probe in group]


# What the room looks like ------------------------------------------------------------------


@dataclass
class Room:
    id: int
    manager: bool
    seed: list[int]  # seqs of the fuzzing member's messages (1, 2); 3 and 4 are another's


@dataclass(frozen=True)
class Held:
    author: int
    deleted: bool
    hidden: bool


@dataclass
class State:
    messages: dict[int, Held]
    client_ids: set[str]  # the fuzzing member's, in the room


@dataclass
class Expected:
    """What must answer a frame. `answer`: the frame type of a success (None: nothing
    comes); `error`: exactly one error comes instead; `either`: one or the other."""

    answer: str | None = None
    match: dict = field(default_factory=dict)  # on the answer's `message` (or the frame)
    echo: bool = False  # the answer repeats the request_id
    grows: int = 0  # messages stored
    error: bool = False
    either: bool = False
    code: str | None = None


def room_make(fuzzer, other, *, manager: bool) -> Room:
    community = CommunityFactory(join_policy="open")
    room = room_get_or_create_for_community(community=community)
    role = Role.MANAGER if manager else Role.MEMBER
    MembershipFactory(community=community, user=fuzzer, role=role)
    MembershipFactory(community=community, user=other)
    for n, author in enumerate([fuzzer, fuzzer, other, other], start=1):
        MessageFactory(room=room, author=author, client_id=f"seed-{n}", body=f"Seed {n}")
    return Room(room.pk, manager, [1, 2])


def state_read(room_id: int, user_id: int) -> State:
    rows = Message.objects.filter(room_id=room_id).values_list(
        "seq", "author_id", "deleted_at", "hidden_at", "client_id"
    )
    return State(
        messages={
            seq: Held(author, deleted is not None, hidden is not None)
            for seq, author, deleted, hidden, _client_id in rows
        },
        client_ids={client_id for _s, author, _d, _h, client_id in rows if author == user_id},
    )


def message_count(room_id: int) -> int:
    return Message.objects.filter(room_id=room_id).count()


def stored_defects(room_id: int) -> list[str]:
    """What is stored in the room that should not be."""
    defects = []
    rows = Message.objects.filter(room_id=room_id).values_list("seq", "body", "deleted_at")
    for seq, body, deleted_at in rows:
        if (defect := text_defect(body)) is not None:
            defects.append(f"message {seq}: {defect} in {body!r}")
        elif deleted_at is None and invisible_only(body):
            defects.append(f"message {seq}: nothing visible in {body!r}")
    for seq, reason in Report.objects.filter(message__room_id=room_id).values_list(
        "message__seq", "reason"
    ):
        if (defect := text_defect(reason)) is not None:
            defects.append(f"report on {seq}: {defect} in {reason!r}")
    return defects


def expected(probe: Probe, state: State, room: Room, user_id: int) -> Expected:
    if probe.fault:
        frame = probe.frame if isinstance(probe.frame, dict) else {}
        retry = probe.retry and frame.get("client_id") in state.client_ids
        # A retry of a stored client_id may be answered with the original message.
        return Expected(
            "message.new",
            {"client_id": frame.get("client_id")},
            error=True,
            either=retry,
            code=probe.code,
        )
    outcome = _expected_well_formed(probe.frame, state, room, user_id)
    if not request_id_valid(probe.request_id) and probe.request_id is not ABSENT:
        outcome.either = True
    return outcome


def _expected_well_formed(frame: dict, state: State, room: Room, user_id: int) -> Expected:
    kind = frame["type"]
    if kind == "message.send":
        client_id = frame["client_id"]
        grows = 0 if client_id in state.client_ids else 1
        return Expected("message.new", {"client_id": client_id}, grows=grows)
    if kind == "history.fetch":
        bounds = [frame.get("before", 0), frame.get("after", 0)]
        return Expected("history", either=max(bounds) > INT_MAX)
    if kind == "ping":
        return Expected("pong")
    if kind == "typing":
        return Expected(None)
    seq = frame["seq"]
    held = state.messages.get(seq)
    refused = Expected(error=True)
    if held is None:
        return refused
    if kind == "message.edit":
        if held.author != user_id or held.deleted or held.hidden:
            return refused
        return Expected("message.updated", {"seq": seq, "deleted": False, "hidden": False})
    if kind == "message.delete":
        if held.author != user_id:
            return refused
        return Expected("message.updated", {"seq": seq, "deleted": True}, echo=held.deleted)
    if kind in ("message.hide", "message.restore"):
        if not room.manager:
            return refused
        hidden = kind == "message.hide"
        # Hiding or restoring a deleted message: the protocol does not say.
        return Expected(
            "message.updated",
            {"seq": seq, "hidden": hidden},
            echo=held.hidden == hidden,
            either=held.deleted,
        )
    assert kind == "message.report"
    # Reporting a removed message: the protocol does not say.
    return Expected("report.received", {"seq": seq}, either=held.deleted or held.hidden)


# The socket ---------------------------------------------------------------------------------


class Socket:
    """A room socket through the real ASGI stack, read frame by frame."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.broken = False

    def _fail(self, what: str):
        self.broken = True
        raise AssertionError(what)

    async def send(self, probe: Probe) -> None:
        if probe.data is not None:
            message = {"type": "websocket.receive", "bytes": probe.data}
        else:
            message = {"type": "websocket.receive", "text": probe.text}
        try:
            await self.communicator.send_input(message)
        except Exception as error:
            self._fail(f"the application failed ({error!r}): Daphne closes with 1011")

    async def _next(self, timeout: float) -> dict | None:
        """The next frame, or None if none comes within `timeout`."""
        communicator = self.communicator
        try:
            if await communicator.receive_nothing(timeout):
                return None
            message = await communicator.receive_output(1)
        except Exception as error:
            self._fail(f"the application failed ({error!r}): Daphne closes with 1011")
        if message["type"] == "websocket.close":
            self._fail(f"the socket was closed with {message.get('code')}")
        assert message["type"] == "websocket.send", message
        text = message.get("text")
        if text is None:
            self._fail(f"a binary frame came: {message!r}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            self._fail(f"a frame that is not UTF-8 ({error}): Daphne closes with 1011: {text!r}")
        return json.loads(text)

    async def answer(self, wait: bool) -> list[dict]:
        """The frames until the socket is quiet for QUIET seconds (the first awaited for
        up to ANSWER_WITHIN when `wait`), but presence and heartbeat frames."""
        frames = []
        timeout = ANSWER_WITHIN if wait else QUIET
        while (frame := await self._next(timeout)) is not None:
            if frame["type"] not in ("presence", "heartbeat"):
                frames.append(frame)
                timeout = QUIET
        return frames

    async def open(self) -> list[dict]:
        """Connect; room.state and history (what comes first)."""
        try:
            accepted, _code = await self.communicator.connect(timeout=ANSWER_WITHIN)
        except Exception as error:
            self._fail(f"the application failed ({error!r}): Daphne closes with 1011")
        assert accepted is True
        frames = []
        while not frames or frames[-1]["type"] != "history":
            frame = await self._next(ANSWER_WITHIN)
            assert frame is not None, f"no history within {ANSWER_WITHIN:g} s: {frames}"
            if frame["type"] not in ("presence", "heartbeat"):
                frames.append(frame)
        return frames


@contextlib.asynccontextmanager
async def room_socket(room_id: int, cookie: str, query: str = ""):
    path = f"/ws/rooms/{room_id}/" + (f"?{query}" if query else "")
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    socket = Socket(communicator)
    try:
        yield socket
    except BaseException:
        with contextlib.suppress(Exception):
            await communicator.disconnect()
        raise
    else:
        await communicator.disconnect()


def logged_failures(caplog, since: int) -> list[str]:
    """ERROR records with a traceback since record `since` (but asyncio's word on an
    earlier failed example of these tests, which it may log whenever it collects it)."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records[since:]
        if record.levelno >= logging.ERROR
        and (record.exc_info or record.stack_info)
        and not (record.name == "asyncio" and "coro=<test_room_socket" in record.getMessage())
    ]


def judge(probe: Probe, want: Expected, frames: list[dict], grew: int, request_id) -> None:
    """Assert that `frames` (and `grew` new messages) are what `want` says."""
    seen = f"{probe!r} got {frames!r}"
    valid_request_id = request_id_valid(request_id)
    for frame in frames:
        if "request_id" in frame:
            assert valid_request_id and frame["request_id"] == request_id, seen
    errors = [frame for frame in frames if frame["type"] == "error"]
    for error in errors:
        assert isinstance(error.get("code"), str) and error["code"], seen
        assert error["code"] != "server_error", seen
    if want.error or (want.either and errors):
        assert len(frames) == 1, seen  # exactly one error, nothing else
        assert frames[0]["type"] == "error", seen
        if valid_request_id:
            assert frames[0].get("request_id") == request_id, seen
        if want.code is not None and not want.either:
            assert frames[0]["code"] == want.code, seen
        assert grew == 0, f"{seen}, and {grew} messages were stored"
        return
    if want.answer is None:
        assert frames == [], seen
        assert grew == 0, seen
        return
    assert errors == [], seen
    answers = [frame for frame in frames if frame["type"] == want.answer]
    assert answers, f"{seen}: no {want.answer}"
    matching = [frame for frame in answers if _matches(frame, want.match)]
    assert matching, f"{seen}: no {want.answer} with {want.match}"
    if want.echo and valid_request_id:
        assert any(frame.get("request_id") == request_id for frame in matching), seen
    assert grew == want.grows, f"{seen}: {grew} messages stored, not {want.grows}"


def _matches(frame: dict, match: dict) -> bool:
    target = frame.get("message", frame)
    return all(target.get(name) == value for name, value in match.items())


# Tests ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _limits_out_of_the_way(settings):
    settings.ROOM_RATE_LIMIT_MESSAGES = 100000
    settings.LIVE_FRAMES_MAX = 100000
    settings.LIVE_FRAMES_SECONDS = 10
    settings.LIVE_ACTIONS_MAX = 100000


@pytest_asyncio.fixture(autouse=True)
async def _close_consumer_connections():
    """The consumers' database thread may keep its connection after the test; PostgreSQL
    would then wait for it before dropping the test database."""
    yield
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def people(transactional_db):
    """The fuzzing member (with a session) and another member."""
    fuzzer = UserFactory(display_name="Fuzzer")
    return {
        "fuzzer": fuzzer,
        "other": UserFactory(display_name="Other"),
        "cookie": session_cookie(fuzzer),
    }


async def fuzz(probes: list[Probe], people: dict, caplog, *, manager: bool) -> None:
    """Send `probes` one by one to a socket in a new room, judging each answer."""
    fuzzer, other = people["fuzzer"], people["other"]
    room = await database_sync_to_async(room_make)(fuzzer, other, manager=manager)
    logged = len(caplog.records)
    async with room_socket(room.id, people["cookie"]) as socket:
        opening = await socket.open()
        assert [frame["type"] for frame in opening] == ["room.state", "history"]
        for probe in probes:
            state = await database_sync_to_async(state_read)(room.id, fuzzer.pk)
            want = expected(probe, state, room, fuzzer.pk)
            await socket.send(probe)
            frames = await socket.answer(wait=want.answer is not None or want.error)
            count = await database_sync_to_async(message_count)(room.id)
            judge(probe, want, frames, count - len(state.messages), probe.request_id)
            failures = logged_failures(caplog, logged)
            assert failures == [], f"{probe!r} logged {failures}"
    defects = await database_sync_to_async(stored_defects)(room.id)
    assert defects == []


FUZZ = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    "print_blob": True,
}


def send(body, client_id: str = "c1", **fault) -> Probe:
    frame = {"type": "message.send", "body": body, "client_id": client_id}
    return Probe.of(frame, retry=True, **fault) if fault else Probe.of(frame)


def change(kind: str, seq: int, request_id: str) -> Probe:
    return Probe.of({"type": kind, "seq": seq, "request_id": request_id})


# The probes, always tried (before what hypothesis makes up).
NOT_TEXT = {"fault": "body is not text", "code": "invalid_text"}


@FUZZ_TIMEOUT
@fuzz_settings(max_examples=50, **FUZZ)
@given(probes=st.lists(not_text_frames(), min_size=1, max_size=4), manager=st.booleans())
@example(probes=[send("a lone \ud800 surrogate", **NOT_TEXT)], manager=False)
@example(probes=[send("a NUL \x00 in it", **NOT_TEXT)], manager=False)
@example(
    probes=[send("\u200b\u3164 \u2800", fault="body is invisible", code="empty_body")],
    manager=False,
)
@example(
    probes=[
        Probe.of(
            {"type": "message.report", "seq": 3, "reason": "\x1b[31mred"},
            fault="reason is not text",
            code="invalid_text",
        )
    ],
    manager=False,
)
async def test_room_socket_text_that_is_not_text_is_refused(probes, manager, people, caplog):
    await fuzz(probes, people, caplog, manager=manager)


@FUZZ_TIMEOUT
@fuzz_settings(max_examples=60, **FUZZ)
@given(probes=st.lists(bad_frames, min_size=1, max_size=4), manager=st.booleans())
@example(probes=[Probe(text="[" * 2000, fault="nested 2000 deep", code="bad_json")], manager=False)
@example(probes=[Probe.of({"type": "\ud800"}, fault="no known type")], manager=False)
async def test_room_socket_bad_frames_get_one_error_each(probes, manager, people, caplog):
    await fuzz(probes, people, caplog, manager=manager)


@FUZZ_TIMEOUT
@fuzz_settings(max_examples=40, **FUZZ)
@given(
    probes=st.lists(repeated(well_formed_frames(text_request_ids)), min_size=1, max_size=4).map(
        flat
    ),
    manager=st.sampled_from([True, False]),  # a manager first: hides and restores work
)
@example(
    probes=[change("message.delete", 1, "d1"), change("message.delete", 1, "d2")], manager=False
)
@example(probes=[change("message.hide", 3, "h1"), change("message.hide", 3, "h2")], manager=True)
@example(probes=[change("message.restore", 3, "r1")], manager=True)
async def test_room_socket_well_formed_frames_get_their_answers(probes, manager, people, caplog):
    await fuzz(probes, people, caplog, manager=manager)


@FUZZ_TIMEOUT
@fuzz_settings(max_examples=30, **FUZZ)
@given(
    probes=st.lists(
        st.one_of(repeated(well_formed_frames()), bad_frames.map(lambda probe: [probe])),
        min_size=2,
        max_size=5,
    ).map(flat),
    manager=st.booleans(),
)
@example(
    probes=[
        send("hello", "c1"),
        send("\x00", "c2", **NOT_TEXT),
        change("message.delete", 5, "d1"),
        change("message.delete", 5, "d2"),
    ],
    manager=False,
)
async def test_room_socket_mixed_frames_bad_ones_change_nothing(probes, manager, people, caplog):
    await fuzz(probes, people, caplog, manager=manager)


# Digits str.isdigit() takes and int() does not (superscript two, circled one), digits
# of other scripts (Arabic-Indic, fullwidth, mathematical), signs, spaces, numbers too big
# for a seq or for int() itself.
ODD_AFTERS = {
    "superscript": "\u00b2",
    "circled": "\u2460",
    "arabic-indic": "\u0661\u0662",
    "fullwidth": "\uff11\uff12",
    "mathematical": "\U0001d7d9",
    "negative": "-1",
    "plus": "+1",
    "space": " 1",
    "fraction": "1.5",
    "empty": "",
    "huge": "99999999999999999999999",
    "5000-digits": "9" * 5000,
}


@pytest.mark.parametrize("after", list(ODD_AFTERS.values()), ids=list(ODD_AFTERS))
async def test_connect_after_odd_value_opens_normally(after, people, caplog):
    room = await database_sync_to_async(room_make)(people["fuzzer"], people["other"], manager=False)

    async with room_socket(room.id, people["cookie"], f"after={quote(after)}") as socket:
        opening = await socket.open()
        frames = await socket.answer(wait=False)

    assert [frame["type"] for frame in opening] == ["room.state", "history"]
    assert frames == []
    assert logged_failures(caplog, 0) == []
