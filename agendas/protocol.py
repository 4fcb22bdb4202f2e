"""The meeting socket's frames: the client frames it takes (docs/protocol.md documents
the same table; tests keep the two in step)."""

from live.frames import ClientFrame, Field

from .models import LINE_LENGTH
from .run import CHAIR_COMMANDS, TURN_COMMANDS

# Room for a line a little over its limit: the service says "too long" in words.
LINE_FIELD_MAX = LINE_LENGTH * 4

# The chair's commands take these fields; the others none.
# A turn command may name the speaker it is for: if that turn is over already (the clock
# moved on as the chair pressed "next"), it does nothing.
TURN_FIELDS = {"speaker": Field(int, required=False, minimum=1)}

COMMAND_FIELDS = {
    **dict.fromkeys(TURN_COMMANDS, TURN_FIELDS),
    "agenda.goto": {"item": Field(int, minimum=1)},
    "roundtable.start": {"order": Field(str, required=False, maximum=20)},
    "queue.add": {"user": Field(int, minimum=1)},
    "queue.remove": {"user": Field(int, minimum=1)},
    "queue.move": {"user": Field(int, minimum=1), "position": Field(int, minimum=0)},
}

CLIENT_FRAMES: dict[str, ClientFrame] = {
    **{
        command: ClientFrame(COMMAND_FIELDS.get(command, {}), action=True)
        for command in sorted(CHAIR_COMMANDS)
    },
    "turn.lines": ClientFrame(
        {
            "challenge": Field(str, required=False, maximum=LINE_FIELD_MAX),
            "help": Field(str, required=False, maximum=LINE_FIELD_MAX),
            "private": Field(bool, required=False),
        },
        action=True,
    ),
    "ping": ClientFrame(),
}
