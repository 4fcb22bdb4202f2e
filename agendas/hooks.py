"""Hooks for the apps above agendas (agendas cannot import them); each registers in its
AppConfig.ready() — the pattern of `communities/hooks.py` and `meetings/hooks.py`.

- Callbacks run after a meeting's live run ended, once the ending has committed (minutes
  drafts the meeting's minutes from the run). Each is called as callback(meeting_id=...).
"""

from collections.abc import Callable
from functools import wraps

from django.db import transaction

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
