"""docs/protocol.md is the socket's contract: every client frame type and every error code
the server can send is documented there, and the doc lists no code the server never sends.
"""

import re
from pathlib import Path

from rooms import consumers
from rooms.hub import RoomHub
from rooms.protocol import CLIENT_FRAMES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()
ROOMS = ROOT / "rooms"


def table_rows(heading: str) -> list[str]:
    """The first cell (unquoted) of each row of the first table under `heading`."""
    section = DOC.split(f"\n{heading}\n", 1)[1]
    cells = []
    for line in section.lstrip("\n").splitlines():
        if not line.lstrip().startswith("|"):
            if cells:
                break
            continue
        first = line.strip().strip("|").split("|")[0].strip()
        match = re.fullmatch(r"`([^`]+)`", first)
        if match:
            cells.append(match.group(1))
    return cells


def server_error_codes() -> set[str]:
    """Every code raised as RoomError or ProtocolError in rooms/, and every code the
    consumer sends as an error itself."""
    pattern = re.compile(r"(?:RoomError|ProtocolError|_send_error)\(\s*\"([a-z_]+)\"")
    codes = set()
    for path in ROOMS.glob("*.py"):
        codes.update(pattern.findall(path.read_text()))
    return codes


def test_server_error_codes_are_found():
    # Guards the grep: an empty set would make the checks below pass vacuously.
    assert {"bad_json", "not_member", "rate_limited", "server_error"} <= server_error_codes()


def test_every_client_frame_type_is_documented():
    documented = table_rows("### Client → server")

    assert sorted(CLIENT_FRAMES) == sorted(documented)


def test_every_client_frame_type_appears_as_type():
    missing = [kind for kind in CLIENT_FRAMES if f"`{kind}`" not in DOC]

    assert missing == []


def test_every_error_code_is_in_the_error_table():
    documented = set(table_rows("### Error codes"))

    assert sorted(server_error_codes() - documented) == []


def test_error_table_lists_only_codes_the_server_sends():
    documented = set(table_rows("### Error codes"))

    assert sorted(documented - server_error_codes()) == []


def test_close_codes_are_documented():
    documented = set(table_rows("### Connecting"))
    used = {
        consumers.CLOSE_NOT_SIGNED_IN,
        consumers.CLOSE_NOT_MEMBER,
        consumers.CLOSE_NOT_FOUND,
        consumers.CLOSE_UNAVAILABLE,
    }

    assert {str(code) for code in used} <= documented


def server_frame_types() -> set[str]:
    """Every frame type the server writes in rooms/, leaving out channel-layer events
    (those the hub handles, like `room.frame`)."""
    pattern = re.compile(r"(?:\"type\": \"([a-z.]+)\"|_send_pong\(\s*\"([a-z.]+)\")")
    found = set()
    for path in ROOMS.glob("*.py"):
        found.update(
            filter(None, (t for match in pattern.findall(path.read_text()) for t in match))
        )
    return found - set(RoomHub.EVENTS)


def test_every_server_frame_type_is_documented():
    documented = set(table_rows("### Server → client"))

    assert {"room.state", "message.new", "heartbeat", "pong"} <= server_frame_types()
    assert sorted(server_frame_types() - documented) == []
