"""The one way real-time events leave the server's code: after the transaction commits.

Services call `event_send_on_commit`; consumers and views never `group_send` directly.
Messages are durable in the database before their event is sent; the channel layer only
carries them, so a lost event shows as a gap in `seq` that clients fill from history.
"""

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def frame_event(frame: dict, **routing) -> dict:
    """A channel-layer event carrying `frame` serialised once, for every recipient.

    `routing` adds fields the receiving consumers look at without parsing the frame
    (e.g. `seq`).
    """
    return {"type": "room.frame", "text": json.dumps(frame, separators=(",", ":")), **routing}


def event_send_now(group: str, event: dict) -> None:
    """Send at once (the caller is already past its commit). Never raises: a failed
    broadcast loses nothing, since clients catch up from the database."""
    if settings.DEBUG or getattr(settings, "EVENTS_CHECK_JSON", False):
        json.dumps(event)  # fail where an unserialisable event is built
    try:
        async_to_sync(get_channel_layer().group_send)(group, event)
    except Exception:
        logger.warning("could not send %s to %s", event.get("type"), group, exc_info=True)


def event_send_on_commit(group: str, event: dict) -> None:
    transaction.on_commit(lambda: event_send_now(group, event))
