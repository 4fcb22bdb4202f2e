"""The consumer every socket is made of: the layer owns the plumbing, an app writes only
its handlers (docs/live.md shows a whole one).

What the base class does for every socket:

- connecting: accept, then refuse with a close code the browser can read (4401 not signed
  in, the app's own 4403/4404, 4429 too many sockets, 4503 layer away, 4012 stopping);
  join the process's hub; hold live frames back while the app sends its first frames
  (`opened`: state, backlog), then release them, dropping what the backlog already held
  (`floor`: frames carrying a `seq` at or below it);
- frames in: decode (an `error` frame for anything that is not a clean JSON object),
  validate against the app's table (`frames`), apply the per-socket frame rate, the
  per-user action rate and load shedding, then call the handler; every refusal is one
  `error` frame repeating the frame's `request_id`, and changes nothing;
- frames out: answers wait while the client is not reading; live frames are skipped then,
  the client is told how many when it catches up (`slow_client`), and a client that stays
  behind for LIVE_SLOW_CLIENT_SECONDS is closed (4408), busy room or idle;
- ending: kicked, signed out (4401), stopping (4012): close, and nothing more goes out.
"""

import asyncio
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from django.utils.translation import gettext as _

from .aio import spawn
from .codes import (
    CLOSE_GOING_AWAY,
    CLOSE_NOT_MEMBER,
    CLOSE_NOT_SIGNED_IN,
    CLOSE_TOO_SLOW,
    CLOSE_UNAVAILABLE,
)
from .errors import LiveError, ProtocolError, Refused
from .frames import ClientFrame, dumps, frame_check, frame_decode, frame_echo, frame_validate
from .hub import live_hub
from .limits import Bucket
from .transport import Frame, outlet_for

logger = logging.getLogger(__name__)

CAUGHT_UP_SECONDS = 3.0  # a client whose buffer stays drained this long has caught up
_DIGITS = re.compile(r"[0-9]{1,16}")


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Subclass, set `frames` (the client frame table) and `handlers` (type → method,
    each `async def on_x(self, *, echo, **fields)` calling one service or selector), and
    implement `authorize()`; `opened()` and `closed()` as the app needs."""

    # No channel-layer channel per socket: `get_channel_layer(None)` is None, so Channels
    # makes none. The process's hub holds one for all its sockets and hands them events.
    channel_layer_alias = None

    frames: dict[str, ClientFrame] = {}
    handlers: dict = {}
    # Refusals that also end the connection (the membership ended meanwhile).
    close_on_error = {"not_member": CLOSE_NOT_MEMBER}

    # Set by `authorize()`: the group this socket is in, and tags a kick may name.
    group = ""
    tags: frozenset[str] = frozenset()

    user = None
    user_id: int | None = None
    session_key: str | None = None
    connection_id = ""  # names this socket (e.g. in a presence table)
    language = ""
    floor = 0  # frames carrying a seq at or below this were already sent
    pending: list | None = None  # live frames held back while the first frames go out
    joined = False
    closing = False
    outlet = None
    skipped = 0  # live frames not written because the client fell behind
    behind_since: float | None = None  # since when it has been behind (not caught up)
    _slow_timer = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if set(cls.frames) != set(cls.handlers):
            raise ImproperlyConfigured(
                f"{cls.__name__}: every frame type needs a handler, and every handler a type"
            )

    # What an app implements -----------------------------------------------------------------

    async def authorize(self) -> None:
        """Check the user may open this socket (raise Refused with a close code) and set
        `group` (and `tags`)."""
        raise NotImplementedError

    async def opened(self) -> None:
        """The first frames (the state, a backlog), sent with `send_frame`; live frames
        wait until it returns."""

    async def closed(self) -> None:
        """The socket is gone (e.g. presence)."""

    # Connecting -----------------------------------------------------------------------------

    async def connect(self):
        # Accept first, then close with a code: closing before accept() makes Daphne answer
        # the handshake with HTTP 403, and the browser never learns why.
        await self.accept()
        self.outlet = outlet_for(self.scope, self._send_text)
        self.outlet.watch.on_pause = self._fell_behind
        self.outlet.watch.on_resume = self._drained
        self.hub = live_hub()
        user = self.scope.get("user")
        self.language = getattr(user, "language", "") or settings.LANGUAGE_CODE
        self.frame_bucket = Bucket(settings.LIVE_FRAMES_MAX, settings.LIVE_FRAMES_SECONDS)
        self.sent_at: dict[str, float] = {}
        try:
            if self.hub.closing:
                raise Refused(CLOSE_GOING_AWAY)
            if user is None or not user.is_authenticated:
                raise Refused(CLOSE_NOT_SIGNED_IN)
            self.user, self.user_id = user, user.pk
            self.session_key = getattr(self.scope.get("session"), "session_key", None)
            await self.authorize()
            self.connection_id = f"socket.{uuid.uuid4().hex}"
            # Join before the first frames: an event meanwhile is held in `pending` until
            # they are out, and `floor` drops what they held already. No gap, no duplicate.
            self.pending = []
            await self.hub.join(self)
        except Refused as refusal:
            await self.end(refusal.code)
            return
        except Exception:
            # The database away, say: a close the client retries, never a 1011.
            logger.exception("%s: a socket could not open", self.group or "a socket")
            await self.end(CLOSE_UNAVAILABLE)
            return
        self.joined = True
        self.hub.open.add(self)
        try:
            with translation.override(self.language):
                await self.opened()
        except Exception:
            logger.exception("%s: a socket could not open", self.group)
            await self.end(CLOSE_UNAVAILABLE)
            return
        while self.pending:
            held, self.pending = self.pending, []
            for frame, seq in held:
                self._deliver_live(frame, seq)
        self.pending = None

    def query(self, name: str) -> str:
        """The last value of a query parameter, or ""."""
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[-1] if values else ""

    def query_int(self, name: str) -> int | None:
        """A query parameter of ASCII digits as a number, else None."""
        value = self.query(name)
        return int(value) if _DIGITS.fullmatch(value) else None

    def query_time(self, name: str) -> datetime | None:
        """A query parameter holding an ISO 8601 time with its offset, else None."""
        try:
            value = datetime.fromisoformat(self.query(name).replace("Z", "+00:00"))
            return value.astimezone(UTC) if value.tzinfo is not None else None
        except (ValueError, OverflowError):  # not a time, or one UTC cannot hold
            return None

    async def disconnect(self, code):
        self.closing = True
        self._stop_slow_clock()
        if self.outlet is not None:
            self.outlet.stop()
        if not self.joined:
            return
        self.joined = False
        # The app first (presence, in the database): leaving the hub may need Redis,
        # which may be away.
        try:
            await self.closed()
        finally:
            await self.hub.leave(self)
            self.hub.open.discard(self)

    async def end(self, code: int) -> None:
        """Close with `code`; nothing more goes out."""
        if self.closing:
            return
        self.closing = True
        await self.hub.leave(self)
        await self.outlet.flush()
        await self.close(code)

    # Frames in ------------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if not self.joined or self.closing:
            return  # refused, ending or ended
        self.outlet.inbound_check()
        # Error details speak the user's language.
        with translation.override(self.language):
            await self._receive(text_data)
        self.outlet.inbound_check()

    async def _receive(self, text_data) -> None:
        echo = {}
        try:
            wait = self.frame_bucket.take()
            content = frame_decode(text_data)
            echo = frame_echo(content)
            frame_check(content)
            if wait is not None:
                raise ProtocolError(
                    "rate_limited",
                    _("You are sending too fast. Wait a few seconds."),
                    retry_after=wait,
                )
            kind, args = frame_validate(self.frames, content)
            if not self._admit(kind, self.frames[kind]):
                return
            self.hub.busy += 1  # a stopping process waits for it (its commit, its event)
            try:
                await self.handlers[kind](self, echo=echo, **args)
            finally:
                self.hub.busy -= 1
        except LiveError as error:
            await self.send_error(error.code, error.detail, echo, **error.extra)
            code = self.close_on_error.get(error.code)
            if code is not None:
                await self.end(code)
        except Exception:
            logger.exception("%s: a frame failed", self.group)
            await self.send_error(
                "server_error", _("Something went wrong on the server; try again."), echo
            )

    def _admit(self, kind: str, spec: ClientFrame) -> bool:
        """Whether to handle the frame now: False drops it quietly (`every`); raises for a
        refusal the client must hear of."""
        if spec.every is not None:
            now = time.monotonic()
            if now - self.sent_at.get(kind, -spec.every) < spec.every:
                return False
            self.sent_at[kind] = now
        if spec.shed and (lag := self.hub.overloaded()) is not None:
            # Past saturation: refuse new work, nothing stored, rather than queue it.
            raise LiveError(
                "overloaded",
                _("The server is very busy; nothing was done. Try again shortly."),
                retry_after=lag,
            )
        if spec.action and (wait := self.hub.action_take(self.user_id)) is not None:
            raise LiveError(
                "rate_limited",
                _("You are making changes too fast. Wait a few seconds."),
                retry_after=wait,
            )
        return True

    # Frames out: answers --------------------------------------------------------------------

    async def send_frame(self, frame: dict) -> None:
        """An answer to this socket alone. Waits while the client is not reading; one that
        stays behind is closed (4408)."""
        if self.closing:
            return
        watch = self.outlet.watch
        if watch.paused and not await watch.drained(self._slow_left()):
            await self.end(CLOSE_TOO_SLOW)
            return
        if not self.closing:
            self.outlet.send(Frame(dumps(frame)))

    async def send_error(self, code: str, detail, echo: dict, **extra) -> None:
        frame = {"type": "error", "code": code, "detail": str(detail), **echo, **extra}
        await self.send_frame(frame)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    # Frames out: live, from the hub (no database, no thread hop) ----------------------------

    def deliver(self, frame: Frame, seq: int | None) -> None:
        """A frame serialised once by its sender, for every socket in the group."""
        if self.closing:
            return
        if self.pending is not None:
            self.pending.append((frame, seq))  # the first frames are still going out
            return
        self._deliver_live(frame, seq)

    def _deliver_live(self, frame: Frame, seq: int | None) -> None:
        if seq is not None and seq <= self.floor:
            return  # already sent from history while resuming
        if self.outlet.watch.paused:
            # The client stopped reading and 64 KB wait for it already: write nothing more
            # (memory stays bounded, the group is not held up). It catches up through the
            # seq gap; one that stays behind is closed by the slow clock.
            self.skipped += 1
            return
        if self.skipped and self._has_caught_up():
            self._tell_skipped()
        self.outlet.send(frame)

    # The slow clock -------------------------------------------------------------------------

    def _fell_behind(self) -> None:
        """More than 64 KB wait for the client (Twisted paused us)."""
        if self.behind_since is None:
            self.behind_since = time.monotonic()
        if self._slow_timer is None and not self.closing:
            self._slow_timer = asyncio.get_running_loop().call_later(
                self._slow_left(), self._slow_check
            )

    def _slow_left(self) -> float:
        if self.behind_since is None:
            return settings.LIVE_SLOW_CLIENT_SECONDS
        return max(0.0, settings.LIVE_SLOW_CLIENT_SECONDS - (time.monotonic() - self.behind_since))

    def _slow_check(self) -> None:
        self._slow_timer = None
        if self.closing or self.behind_since is None:
            return
        left = self._slow_left()
        if left <= 0 and self.outlet.watch.paused:
            spawn(self.end(CLOSE_TOO_SLOW))
            return
        # Reading again but not caught up yet: look again soon (the caught-up check stops
        # the clock; falling behind again closes it).
        self._slow_timer = asyncio.get_running_loop().call_later(max(left, 0.5), self._slow_check)

    def _stop_slow_clock(self) -> None:
        self.behind_since = None
        if self._slow_timer is not None:
            self._slow_timer.cancel()
            self._slow_timer = None

    def _has_caught_up(self) -> bool:
        watch = self.outlet.watch
        return not watch.paused and time.monotonic() - watch.resumed_at >= CAUGHT_UP_SECONDS

    def _drained(self) -> None:
        """What waited for the client has drained (Twisted resumed us). Linux growing the
        socket's send buffer does that too, without the client reading: only once the
        buffer stays drained for CAUGHT_UP_SECONDS has the client caught up (its slow clock
        stops, and it is told what it missed)."""
        asyncio.get_running_loop().call_later(CAUGHT_UP_SECONDS + 0.05, self._check_caught_up)

    def _check_caught_up(self) -> None:
        if self.closing or not self._has_caught_up():
            return
        self._stop_slow_clock()
        if self.skipped:
            self._tell_skipped()

    def _tell_skipped(self) -> None:
        skipped, self.skipped = self.skipped, 0
        with translation.override(self.language):
            detail = _(
                "Your connection fell behind, so some updates were not sent; fetch what is missing."
            )
        frame = {"type": "error", "code": "slow_client", "detail": detail, "skipped": skipped}
        self.outlet.send(Frame(dumps(frame)))
