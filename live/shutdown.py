"""Stopping a server process without losing anyone: SIGTERM (a deploy, a restart) or SIGINT.

Under Daphne, Twisted stops the reactor on SIGTERM at once: Daphne cancels every socket's
application (its clients see 1006 and cannot tell a restart from a crash), and events
still on their way are lost. Here the signal first

1. stops accepting: every listening port is closed, so the load balancer sends newcomers
   to another process (a socket accepted meanwhile is closed with 4012 at once);
2. closes every socket with 4012: "this process stops; reconnect now, with a little
   random delay, elsewhere" (clients resume from their last seq, so nothing is lost);
3. sends what was committed meanwhile (the publisher's queue);

and only then stops the reactor. The process exits within LIVE_SHUTDOWN_SECONDS (8); if
anything still holds it then (a database call that hangs), it is ended, so a deploy never
waits for the platform's SIGKILL. A second signal stops at once.
"""

import asyncio
import logging
import os
import signal
import sys
import threading
import time

from django.conf import settings

from .aio import spawn
from .codes import CLOSE_GOING_AWAY
from .hub import live_hubs

logger = logging.getLogger(__name__)

_state = {"stopping": False}


def install() -> None:
    """Under Daphne (its Twisted reactor is installed): take over SIGTERM and SIGINT once
    the reactor runs (Twisted installs its own handlers as it starts)."""
    if "twisted.internet.reactor" not in sys.modules or "daphne.server" not in sys.modules:
        return
    from twisted.internet import reactor

    reactor.callWhenRunning(_take_signals, reactor)


def _take_signals(reactor) -> None:
    loop = asyncio.get_event_loop()

    def on_signal(signum, _frame):
        if _state["stopping"]:
            logger.warning("second signal: stopping now")
            os._exit(1)
        _state["stopping"] = True
        loop.call_soon_threadsafe(lambda: spawn(stop(reactor)))

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


async def stop(reactor) -> None:
    budget = settings.LIVE_SHUTDOWN_SECONDS
    started = time.monotonic()
    _watchdog(budget)
    _stop_listening(reactor)
    hubs = live_hubs()
    sockets = sum(len(hub.sockets()) for hub in hubs)
    logger.info("stopping: closing %d sockets (%s)", sockets, CLOSE_GOING_AWAY)
    # Half the budget for the sockets and the events; the rest for Daphne and exiting.
    for hub in hubs:
        await hub.shutdown(code=CLOSE_GOING_AWAY, timeout=budget / 2)
    # Let the sockets' close handshakes and their `closed()` work (presence) finish.
    deadline = started + budget * 0.75
    while any(hub.open for hub in hubs) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    # What the sockets' last work committed meanwhile (presence) goes out too.
    for hub in hubs:
        await hub.publisher.drain(max(0.1, started + budget * 0.85 - time.monotonic()))
    logger.info("stopped in %.1f s", time.monotonic() - started)
    reactor.stop()


def _stop_listening(reactor) -> None:
    from twisted.internet import tcp

    for reader in reactor.getReaders():
        if isinstance(reader, tcp.Port):
            reader.stopListening()


def _watchdog(seconds: float) -> None:
    def force():
        logger.warning("still running %.0f s after the signal: exiting now", seconds)
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()
