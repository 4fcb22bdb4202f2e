"""The roundtable's clock in each server process: while any of its sockets follows a
meeting, a task reads the live runs' deadlines every TICK seconds (one query for all) and
moves a turn that ran out, or warns ten seconds before. Every process does it; the run's
conditional update lets exactly one of them win, so a turn advances once however many
processes (and chairs) try. With nobody connected anywhere, `manage.py agendas_maintain`
(every minute) catches up, and each socket that opens does too."""

import asyncio
import logging
import weakref
from collections import Counter
from datetime import timedelta

from channels.db import database_sync_to_async
from django.utils import timezone

from . import run as rules
from . import selectors, services

logger = logging.getLogger(__name__)

TICK = 0.25  # seconds: a turn moves on within this of its deadline


def tick(meeting_ids) -> int:
    """One round for these meetings: moves and warnings that are due. Returns the moves."""
    now = timezone.now()
    moved = 0
    for meeting_id, ends_at, warned in selectors.runs_ticking(meeting_ids=meeting_ids):
        if ends_at is None:
            continue
        if ends_at <= now:
            moved += services.run_expire(meeting_id=meeting_id, now=now)
        elif not warned and ends_at - timedelta(seconds=rules.WARNING_SECONDS) <= now:
            services.run_warn(meeting_id=meeting_id, now=now)
    return moved


class Clock:
    """The task of one event loop (a server process), and the meetings it watches."""

    def __init__(self):
        self.watched: Counter[int] = Counter()
        self.task: asyncio.Task | None = None

    def watch(self, meeting_id: int) -> None:
        self.watched[meeting_id] += 1
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def unwatch(self, meeting_id: int) -> None:
        self.watched[meeting_id] -= 1
        if self.watched[meeting_id] <= 0:
            del self.watched[meeting_id]

    async def _run(self) -> None:
        while self.watched:
            try:
                await database_sync_to_async(tick)(list(self.watched))
            except Exception:  # the next tick tries again; a socket's state stays true
                logger.exception("the roundtable clock failed a tick")
            await asyncio.sleep(TICK)


_clocks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def clock() -> Clock:
    """This event loop's clock."""
    loop = asyncio.get_running_loop()
    found = _clocks.get(loop)
    if found is None:
        found = _clocks[loop] = Clock()
    return found
