"""The server's clock, as every socket states it: UTC, ISO 8601, with a Z.

Clients draw countdowns from deadlines and this clock, never from their own."""

from datetime import UTC, datetime


def iso_utc(value: datetime | None) -> str | None:
    """A moment as frames carry it (`2026-11-24T15:04:05.123456Z`), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def server_time() -> str:
    """Now, by the server's clock."""
    return iso_utc(datetime.now(UTC))
