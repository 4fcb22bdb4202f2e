from live.errors import LiveError


class RoomError(LiveError):
    """A refused room action: `code` is stable (docs/protocol.md), `detail` is for people.
    Nothing changed."""
