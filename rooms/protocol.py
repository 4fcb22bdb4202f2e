"""The room socket's frames: the client frames it takes, and the frames it builds.

docs/protocol.md documents the same table; tests keep the two in step.
"""

from django.conf import settings

from live.clock import server_time
from live.frames import ClientFrame, Field, dumps
from live.registry import Beat, GroupKind, group_id

from . import services
from .models import CLIENT_ID_MAX_LENGTH, room_group
from .selectors import HISTORY_MAX, message_frame, room_online

TYPING_INTERVAL = 0.5  # seconds: typing frames closer together than this are not relayed

# type -> its fields; for strings, minimum and maximum bound the length. Other fields are
# ignored; `request_id` (a short string) may ride on any frame and comes back on its
# answer or error.
CLIENT_FRAMES: dict[str, ClientFrame] = {
    "message.send": ClientFrame(
        {"body": Field(str), "client_id": Field(str, minimum=1, maximum=CLIENT_ID_MAX_LENGTH)},
        shed=True,
    ),
    "message.edit": ClientFrame({"seq": Field(int, minimum=1), "body": Field(str)}, action=True),
    "message.delete": ClientFrame({"seq": Field(int, minimum=1)}, action=True),
    "message.hide": ClientFrame({"seq": Field(int, minimum=1)}, action=True),
    "message.restore": ClientFrame({"seq": Field(int, minimum=1)}, action=True),
    "message.report": ClientFrame(
        {"seq": Field(int, minimum=1), "reason": Field(str)},
        action=True,
    ),
    "history.fetch": ClientFrame(
        {
            "before": Field(int, required=False, minimum=1),
            "after": Field(int, required=False, minimum=0),
            "limit": Field(int, required=False, minimum=1, maximum=HISTORY_MAX),
        }
    ),
    "ping": ClientFrame(),
    "typing": ClientFrame(every=TYPING_INTERVAL),
}


def updated_frame(message, **echo) -> dict:
    return {"type": "message.updated", "message": message_frame(message), **echo}


def new_frame(message, **echo) -> dict:
    return {"type": "message.new", "message": message_frame(message), **echo}


def pong_frame(last_seq: int, **echo) -> dict:
    return {"type": "pong", "last_seq": last_seq, "server_time": server_time(), **echo}


def history_frame(messages, has_more: bool, *, resume: bool, forward: bool, **echo):
    """One `history` frame, and the messages it holds. A frame may hold at most
    LIVE_FRAME_MAX_BYTES (Daphne's --websocket-max-message-size bounds what it sends too):
    a page of long messages is cut, nearest its anchor first (forward: the oldest;
    otherwise the newest), and `has_more` says the rest is to fetch."""
    frames = [message_frame(m) for m in messages]
    kept = _fit(frames, settings.LIVE_FRAME_MAX_BYTES - 1024, forward=forward)
    if kept < len(frames):
        has_more = True
        messages = messages[:kept] if forward else messages[len(messages) - kept :]
        frames = frames[:kept] if forward else frames[len(frames) - kept :]
    frame = {"type": "history", "messages": frames, "has_more": has_more, "resume": resume, **echo}
    return frame, messages


def _fit(frames: list[dict], budget: int, *, forward: bool) -> int:
    """How many of `frames`, from the start (forward) or the end, fit in `budget` bytes of
    JSON; at least one (a message alone always fits: its body is bounded)."""
    used = 0
    for count, frame in enumerate(frames if forward else reversed(frames)):
        used += len(dumps(frame).encode()) + 1
        if used > budget:
            return max(1, count)
    return len(frames)


# How rooms' groups beat and tell presence (registered in RoomsConfig.ready()).


def _room_beat(connections: dict[str, tuple[str, int]]) -> dict[str, Beat]:
    """One heartbeat for this process's room sockets: presence refreshed, and for each
    room a `heartbeat` frame with its last seq (a lost last message shows as a gap)."""
    rooms = services.presence_beat(
        connections={cid: (group_id(group), uid) for cid, (group, uid) in connections.items()}
    )
    now = server_time()
    return {
        room_group(room_id): Beat(
            frame={"type": "heartbeat", "last_seq": last_seq, "server_time": now},
            present=online,
        )
        for room_id, (last_seq, online) in rooms.items()
    }


def _room_present(group: str) -> list[dict]:
    return room_online(room_id=group_id(group))


def _presence_frame(online: list[dict]) -> dict:
    return {"type": "presence", "online": online}


ROOM_GROUPS = GroupKind(
    "room", beat=_room_beat, present=_room_present, presence_frame=_presence_frame
)
