"""Hooks for the apps above agendas (agendas cannot import them); each registers in its
AppConfig.ready() — the pattern of `communities/hooks.py` and `meetings/hooks.py`.

- Callbacks run after a meeting's live run ended, once the ending has committed (minutes
  drafts the meeting's minutes from the run). Each is called as callback(meeting_id=...).
- Frames of the meeting socket handled by another app (`MeetingFrame`).
- Callbacks run when a meeting's agenda is made, inside the making transaction (minutes
  adds "Review of action items" while some are open). Each is called as
  callback(agenda=..., now=...), the agenda and its meeting locked.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.db import transaction

from live.frames import ClientFrame

run_ended_callbacks: list[Callable[..., None]] = []


def run_ended_register(callback: Callable[..., None]) -> None:
    if callback not in run_ended_callbacks:
        run_ended_callbacks.append(callback)


def run_ended_on_commit(*, meeting_id: int) -> None:
    """Call every registered callback once the current transaction commits. Robust: the
    run has ended whatever a callback does, so a failing one is logged, the others still
    run, and the chair's command still succeeds."""
    for callback in run_ended_callbacks:
        transaction.on_commit(_bound(callback, meeting_id), robust=True)


def _bound(callback: Callable[..., None], meeting_id: int) -> Callable[[], None]:
    # Not functools.partial: a robust on_commit logs a failure by the callable's
    # __qualname__, which a partial lacks.
    @wraps(callback)
    def call() -> None:
        callback(meeting_id=meeting_id)

    return call


# Frames the apps above add to the meeting socket (minutes: notes, decisions and action
# items from the chair's console). Registered in AppConfig.ready(), before the socket's
# consumer class is made (chatserver.asgi sets Django up before importing the routing).


@dataclass(frozen=True)
class MeetingFrame:
    """One client frame type of the meeting socket that another app handles.

    `handle(user=..., meeting_id=..., current_item_id=..., **fields)` runs in a database
    thread and returns the answer frame (a dict with its `type`); it refuses by raising a
    LiveError whose code is one of `codes` (docs/protocol.md lists them)."""

    type: str
    frame: ClientFrame
    handle: Callable[..., dict]
    codes: tuple[str, ...] = ()


meeting_frames: dict[str, MeetingFrame] = {}


def meeting_frame_register(entry: MeetingFrame) -> None:
    meeting_frames.setdefault(entry.type, entry)


agenda_created_callbacks: list[Callable[..., None]] = []


def agenda_created_register(callback: Callable[..., None]) -> None:
    if callback not in agenda_created_callbacks:
        agenda_created_callbacks.append(callback)
