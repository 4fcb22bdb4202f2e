"""What a socket answers when a frame is refused: one `error` frame with a stable code.

Apps raise subclasses (rooms' `RoomError`); the consumer base turns every one of them into
an `error` frame that repeats the frame's `request_id`, and changes nothing.
"""


class LiveError(Exception):
    """A refused frame: `code` is stable (docs/protocol.md), `detail` is for people, and
    `extra` rides on the error frame (`retry_after`, `max`)."""

    def __init__(self, code: str, detail, **extra):
        super().__init__(str(detail))
        self.code = code
        self.detail = detail
        self.extra = extra


class ProtocolError(LiveError):
    """The frame itself is wrong: not JSON, unknown type, a field missing or invalid."""


class Refused(Exception):
    """A connection refused or ended, with the close code that says why."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code
