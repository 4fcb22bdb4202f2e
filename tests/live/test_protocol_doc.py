"""docs/protocol.md is the sockets' contract: for every socket the site routes, its client
frame types; every error code and close code the server can send; every frame type it
writes. The document lists each, and nothing the server does not know."""

import re
from pathlib import Path

from agendas.hooks import meeting_frames
from chatserver.routing import websocket_urlpatterns
from live import events
from live.codes import CLOSE_CODES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()
LIVE = ROOT / "live"


def sockets() -> list[tuple[str, type]]:
    """(path prefix, consumer class) of every socket the site routes."""
    found = []
    for route in websocket_urlpatterns:
        prefix = "/" + str(route.pattern).split("<", 1)[0]
        found.append((prefix, route.callback.consumer_class))
    return found


def sources() -> list[Path]:
    """The layer's and every routed socket's app's Python files, and the modules that add
    frames to the meeting socket (agendas.hooks)."""
    apps = {ROOT / consumer.__module__.split(".")[0] for _prefix, consumer in sockets()}
    files = [path for directory in [LIVE, *sorted(apps)] for path in directory.rglob("*.py")]
    for entry in meeting_frames.values():
        files.append(ROOT / (entry.handle.__module__.replace(".", "/") + ".py"))
    return files


def section(prefix: str) -> str:
    """The `## ...` section whose heading names the socket's path."""
    for part in DOC.split("\n## ")[1:]:
        heading = part.split("\n", 1)[0]
        if f"`{prefix}" in heading:
            return part
    raise AssertionError(f"no section for {prefix} in docs/protocol.md")


def tables(heading_pattern: str, text: str = DOC) -> list[str]:
    """The first cell (unquoted) of each row of every table under a heading matching
    `heading_pattern` (a regex, whole heading line)."""
    cells = []
    parts = re.split(r"\n(#{2,3} .*)\n", text)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        if not re.fullmatch(heading_pattern, heading):
            continue
        for line in body.splitlines():
            if line.lstrip().startswith("|"):
                first = line.strip().strip("|").split("|")[0].strip()
                match = re.fullmatch(r"`([^`]+)`", first)
                if match:
                    cells.append(match.group(1))
    return cells


def _grep(pattern: re.Pattern) -> set[str]:
    found = set()
    for path in sources():
        for match in pattern.findall(path.read_text()):
            found.update(m for m in (match if isinstance(match, tuple) else (match,)) if m)
    return found


def server_error_codes() -> set[str]:
    """Every code raised as an error (LiveError, ProtocolError, RoomError, ...) or sent as
    an error frame, in the layer and in the apps of the routed sockets; and the codes the
    meeting socket's added frames declare."""
    declared = {code for entry in meeting_frames.values() for code in entry.codes}
    pattern = re.compile(r"(?:Error|send_error)\(\s*\"([a-z_]+)\"|\"code\": \"([a-z_]+)\"")
    return _grep(pattern) | declared


def server_frame_types() -> set[str]:
    """Every frame type the server writes, leaving out channel-layer events."""
    layer_events = {events.FRAME, events.PRESENCE, events.KICK, events.SESSION}
    return _grep(re.compile(r"\"type\": \"([a-z.]+)\"")) - layer_events


def test_every_socket_is_found():
    # Guards the checks below: none may pass vacuously.
    assert [prefix for prefix, _consumer in sockets()] == ["/ws/rooms/", "/ws/meetings/"]
    assert {"bad_json", "not_member", "rate_limited", "server_error", "slow_client"} <= (
        server_error_codes()
    )
    assert {"room.state", "message.new", "heartbeat", "pong", "error"} <= server_frame_types()


def test_every_client_frame_type_of_every_socket_is_documented():
    for prefix, consumer in sockets():
        documented = tables(r"### Client → server", section(prefix))

        assert sorted(consumer.frames) == sorted(documented), prefix


def test_every_error_code_is_in_an_error_table():
    documented = set(tables(r"### (?:.* )?[Ee]rror codes"))

    assert sorted(server_error_codes() - documented) == []


def test_error_tables_list_only_codes_the_server_sends():
    documented = set(tables(r"### (?:.* )?[Ee]rror codes"))

    assert sorted(documented - server_error_codes()) == []


def test_close_codes_are_documented_and_only_those():
    documented = {int(code) for code in tables(r"### Close codes")}

    assert sorted(CLOSE_CODES - documented) == []
    assert sorted(documented - CLOSE_CODES) == [1009]  # Daphne's, for a frame too big


def test_every_server_frame_type_is_documented():
    documented = set(tables(r"### (?:Server → client|Frames)"))

    assert sorted(server_frame_types() - documented) == []
