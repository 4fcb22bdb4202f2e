"""GET /healthz: each part's state, found by a real round trip with a short timeout."""

import asyncio
import logging
import time

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

logger = logging.getLogger(__name__)


def _database_round_trip() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            if cursor.fetchone() != (1,):
                raise RuntimeError("unexpected answer")
    finally:
        # This runs on a thread of its own: do not leave a connection behind on it.
        connection.close()


async def _check_database() -> None:
    # A plain executor thread, not sync_to_async: on timeout the answer must not wait for
    # a connection attempt that hangs (a pool waiting for a database that is down).
    await asyncio.get_running_loop().run_in_executor(None, _database_round_trip)


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("unexpected message")


async def _probe(check) -> dict:
    timeout = settings.HEALTHZ_TIMEOUT
    started = time.monotonic()
    try:
        await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        state = {"ok": False, "error": f"no answer within {timeout:g} s"}
    except Exception as error:
        state = {"ok": False, "error": f"{type(error).__name__}: {error}"[:200]}
    else:
        state = {"ok": True}
    state["ms"] = round((time.monotonic() - started) * 1000, 1)
    return state


async def _is_staff(request) -> bool:
    """Whether a signed-in site administrator asks. With the database down or slow the
    answer is no, and the check still answers in time."""
    try:
        user = await asyncio.wait_for(request.auser(), settings.HEALTHZ_TIMEOUT)
    except Exception:
        return False
    return user.is_authenticated and user.is_staff


async def healthz(request):
    """Anyone may ask (load balancers, monitors); only site staff see why a part failed.
    Error text names hosts, ports and drivers, so others get `ok` and `ms` alone and the
    error goes to the log."""
    database, channel_layer = await asyncio.gather(
        _probe(_check_database), _probe(_check_channel_layer)
    )
    parts = {"database": database, "channel_layer": channel_layer}
    ok = all(part["ok"] for part in parts.values())
    failed = [name for name, part in parts.items() if not part["ok"]]
    for name in failed:
        logger.warning("healthz: %s failed: %s", name, parts[name]["error"])
    if not await _is_staff(request):
        parts = {name: {"ok": part["ok"], "ms": part["ms"]} for name, part in parts.items()}
    body = {"status": "ok" if ok else "fail", "failed": failed, "parts": parts}
    response = JsonResponse(body, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response
