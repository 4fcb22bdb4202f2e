"""Baseline 1: the practical limit of Python here. A broadcast server written directly on
the `websockets` library, no Django, no persistence: every text frame a connection sends
goes to every connection on the same path (the room), the sender's included.

    python -m bench.baseline_ws --port 8765
"""

import argparse
import asyncio
import contextlib
import signal
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

rooms: dict[str, set[ServerConnection]] = {}


async def handler(connection: ServerConnection) -> None:
    room = rooms.setdefault(connection.request.path, set())
    room.add(connection)
    try:
        while True:
            # Bytes in, bytes out: no decoding and re-encoding per frame; broadcast()
            # writes the frame to every socket without awaiting any of them.
            message = await connection.recv(decode=False)
            broadcast(room, message, text=True)
    except ConnectionClosed:
        pass
    finally:
        room.discard(connection)


def health(connection: ServerConnection, request):
    if request.path == "/healthz":
        return connection.respond(HTTPStatus.OK, "ok\n")
    return None


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.cancel)
    async with serve(
        handler,
        host,
        port,
        compression=None,  # the other servers do not compress either
        process_request=health,
        max_size=65536,  # as Daphne's --websocket-max-message-size
    ):
        with contextlib.suppress(asyncio.CancelledError):
            await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.host, arguments.port))
