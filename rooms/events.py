"""The one way real-time events leave the server's code: after the transaction commits.

Services call `event_send_on_commit`; consumers and views never `group_send` directly.
Messages are durable in the database before their event is sent; the channel layer only
carries them, so a lost event shows as a gap in `seq` that clients fill from history.
"""

import json
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def dumps(frame: dict) -> str:
    """A frame's text. UTF-8 as it is: French or emoji are not three to six times bigger."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def frame_event(frame: dict, room, **routing) -> dict:
    """A channel-layer event carrying `frame` serialised once, for every socket in `room`
    (a Room or its id).

    `routing` adds fields the receiving hub looks at without parsing the frame (`seq`).
    """
    room_id = getattr(room, "pk", room)
    return {
        "type": "room.frame",
        "room": room_id,
        "text": dumps(frame),
        **routing,
    }


def presence_event(room_id: int) -> dict:
    """Who is online in a room changed; each process's hub reads the list, at most once a
    second per room, and tells its sockets."""
    return {"type": "room.presence", "room": room_id}


def typing_event(room_id: int, user) -> dict:
    """`user` is typing in the room: for the room's other members, never stored."""
    frame = {"type": "typing", "user": {"id": user.pk, "name": user.display_name}}
    return {
        "type": "room.typing",
        "room": room_id,
        "user": user.pk,
        "text": dumps(frame),
    }


def event_send_now(group: str, event: dict) -> None:
    """Send at once (the caller is already past its commit). Never raises: a failed
    broadcast loses nothing, since clients catch up from the database."""
    if settings.DEBUG or getattr(settings, "EVENTS_CHECK_JSON", False):
        json.dumps(event)  # fail where an unserialisable event is built
    event = {**event, "sent_at": time.time()}  # the hub measures its lag with it
    try:
        async_to_sync(get_channel_layer().group_send)(group, event)
    except Exception:
        logger.warning("could not send %s to %s", event.get("type"), group, exc_info=True)


def event_send_on_commit(group: str, event: dict) -> None:
    transaction.on_commit(lambda: event_send_now(group, event))


async def event_send_async(group: str, event: dict) -> None:
    """From the event loop, for events with nothing to commit (typing). Never raises."""
    try:
        await get_channel_layer().group_send(group, event)
    except Exception:
        logger.warning("could not send %s to %s", event.get("type"), group, exc_info=True)
