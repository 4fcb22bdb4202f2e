"""The room socket's client frames: their fields, and the checks every frame passes.

docs/protocol.md documents the same table; tests keep the two in step.
"""

import json
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .models import CLIENT_ID_MAX_LENGTH
from .selectors import HISTORY_MAX


class ProtocolError(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Field:
    kind: type
    required: bool = True
    minimum: int | None = None
    maximum: int | None = None


# type -> {field name: Field}; for strings, minimum and maximum bound the length. Other
# fields are ignored; `request_id` (a short string) may ride on any frame and comes back
# on its answer or error.
CLIENT_FRAMES: dict[str, dict[str, Field]] = {
    "message.send": {
        "body": Field(str),
        "client_id": Field(str, minimum=1, maximum=CLIENT_ID_MAX_LENGTH),
    },
    "message.edit": {"seq": Field(int, minimum=1), "body": Field(str)},
    "message.delete": {"seq": Field(int, minimum=1)},
    "message.hide": {"seq": Field(int, minimum=1)},
    "message.restore": {"seq": Field(int, minimum=1)},
    "message.report": {"seq": Field(int, minimum=1), "reason": Field(str)},
    "history.fetch": {
        "before": Field(int, required=False, minimum=1),
        "after": Field(int, required=False, minimum=0),
        "limit": Field(int, required=False, minimum=1, maximum=HISTORY_MAX),
    },
    "ping": {},
    "typing": {},
}


def frame_decode(text: str | None) -> dict:
    """Parse a text frame into an object, or raise ProtocolError."""
    if text is None:
        raise ProtocolError("binary_frame", _("Send text frames holding JSON."))
    try:
        content = json.loads(text)
    except ValueError:
        raise ProtocolError("bad_json", _("This frame is not valid JSON.")) from None
    if not isinstance(content, dict):
        raise ProtocolError("not_object", _("A frame must be a JSON object with a type."))
    return content


def frame_validate(content: dict) -> tuple[str, dict]:
    """The frame's type and its checked fields, or raise ProtocolError."""
    kind = content.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_FRAMES:
        raise ProtocolError("unknown_type", _("Unknown frame type: %(type)s.") % {"type": kind})
    args = {}
    for name, field in CLIENT_FRAMES[kind].items():
        value = content.get(name)
        if value is None:
            if field.required:
                raise ProtocolError(
                    "missing_field", _("The field “%(field)s” is missing.") % {"field": name}
                )
            continue
        # bool is an int in Python, never in this protocol.
        if not isinstance(value, field.kind) or isinstance(value, bool):
            raise ProtocolError(
                "invalid_field",
                _("The field “%(field)s” must be a %(kind)s.")
                % {"field": name, "kind": _("number") if field.kind is int else _("string")},
            )
        size = len(value) if isinstance(value, str) else value
        if (field.minimum is not None and size < field.minimum) or (
            field.maximum is not None and size > field.maximum
        ):
            raise ProtocolError(
                "invalid_field",
                _("The field “%(field)s” is out of range.") % {"field": name},
            )
        args[name] = value
    if kind == "history.fetch" and "before" in args and "after" in args:
        raise ProtocolError("invalid_field", _("Give “before” or “after”, not both."))
    return kind, args
