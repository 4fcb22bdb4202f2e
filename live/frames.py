"""Frames: JSON text objects with a `type`. Decoding, the checks every client frame passes,
and the text of a server frame, encoded once.

An app describes its client frames in a table (`{type: ClientFrame(fields)}`, e.g.
`rooms/protocol.py`); `frame_validate` checks a frame against it. docs/protocol.md documents
the same tables, and tests keep the two in step.
"""

import json
import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from .errors import ProtocolError

# Integers a client may send: what JavaScript holds exactly, and every database stores.
INT_MAX = 2**53 - 1
# Nesting beyond this is no frame of ours (and deep nesting costs the decoder recursion).
DEPTH_MAX = 16
ECHO_MAX_LENGTH = 64

# Control characters other than tab, line feed and carriage return (C0, DEL, C1), and lone
# surrogates (JSON's "\ud800" escapes decode to them; they cannot be encoded back).
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def dumps(frame: dict) -> str:
    """A frame's text. UTF-8 as it is: French or emoji are not three to six times bigger."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def text_is_clean(value: str) -> bool:
    """No control character (but tab, line feed, carriage return) and no lone surrogate."""
    return _BAD_TEXT.search(value) is None


@dataclass(frozen=True)
class Field:
    kind: type
    required: bool = True
    minimum: int | None = None  # for strings: the length
    maximum: int | None = None


@dataclass(frozen=True)
class ClientFrame:
    """One client frame type: its fields, and how the layer treats it.

    shed: new work, refused with `overloaded` while the process is past saturation.
    action: a change others see (an edit, a report), counted against the user's
        LIVE_ACTIONS_MAX per LIVE_ACTIONS_SECONDS.
    every: at most one per this many seconds per socket; the rest are dropped quietly
        (typing: the indicator only needs the latest).
    """

    fields: dict[str, Field] = field(default_factory=dict)
    shed: bool = False
    action: bool = False
    every: float | None = None


def frame_decode(text: str | None) -> dict:
    """Parse a text frame into an object, or raise. (Then `frame_echo`, then
    `frame_check`: an error about the text still repeats a clean `request_id`.)"""
    if text is None:
        raise ProtocolError("binary_frame", _("Send text frames holding JSON."))
    try:
        content = json.loads(text)
    except RecursionError:
        raise ProtocolError("bad_json", _("This frame is nested too deeply.")) from None
    except ValueError:
        raise ProtocolError("bad_json", _("This frame is not valid JSON.")) from None
    if not isinstance(content, dict):
        raise ProtocolError("not_object", _("A frame must be a JSON object with a type."))
    return content


def frame_check(content: dict) -> None:
    """Every key and string, at any depth, must be clean text; depth is bounded."""
    todo = [(content, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > DEPTH_MAX:
            raise ProtocolError("bad_json", _("This frame is nested too deeply."))
        if isinstance(value, dict):
            for key, item in value.items():
                if not text_is_clean(key):
                    raise _bad_text()
                todo.append((item, depth + 1))
        elif isinstance(value, list):
            todo.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and not text_is_clean(value):
            raise _bad_text()


def _bad_text() -> ProtocolError:
    return ProtocolError(
        "invalid_text",
        _("Text may not hold control characters or unpaired surrogates."),
    )


def frame_echo(content: dict) -> dict:
    """What an answer or error repeats from the frame it answers."""
    echo = {}
    for name in ("client_id", "request_id"):
        value = content.get(name)
        if isinstance(value, str) and len(value) <= ECHO_MAX_LENGTH and text_is_clean(value):
            echo[name] = value
    return echo


def frame_validate(table: dict[str, ClientFrame], content: dict) -> tuple[str, dict]:
    """The frame's type and its checked fields, or raise ProtocolError. Fields not in the
    table are ignored."""
    kind = content.get("type")
    if not isinstance(kind, str) or kind not in table:
        shown = kind if isinstance(kind, str) and len(kind) <= ECHO_MAX_LENGTH else "…"
        raise ProtocolError("unknown_type", _("Unknown frame type: %(type)s.") % {"type": shown})
    args = {}
    for name, spec in table[kind].fields.items():
        value = content.get(name)
        if value is None:
            if spec.required:
                raise ProtocolError(
                    "missing_field", _("The field “%(field)s” is missing.") % {"field": name}
                )
            continue
        if spec.kind is bool:
            if not isinstance(value, bool):
                raise ProtocolError(
                    "invalid_field",
                    _("The field “%(field)s” must be true or false.") % {"field": name},
                )
            args[name] = value
            continue
        # bool is an int in Python, never in this protocol.
        if not isinstance(value, spec.kind) or isinstance(value, bool):
            raise ProtocolError(
                "invalid_field",
                _("The field “%(field)s” must be a %(kind)s.")
                % {"field": name, "kind": _("number") if spec.kind is int else _("string")},
            )
        size = len(value) if isinstance(value, str) else value
        maximum = spec.maximum if spec.maximum is not None or spec.kind is not int else INT_MAX
        if (spec.minimum is not None and size < spec.minimum) or (
            maximum is not None and size > maximum
        ):
            raise ProtocolError(
                "invalid_field",
                _("The field “%(field)s” is out of range.") % {"field": name},
            )
        args[name] = value
    return kind, args
