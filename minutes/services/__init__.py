"""Every write of the minutes, one module per part; callers import them from here
(`from minutes import services`).

Each service checks the actor's permission itself and raises `MinutesError` (a message for
people, a stable `code`) or `CommunityNotFound` (an invitation-only community the actor may
not see). On refusal nothing changes.
"""

from .approval import minutes_approve, minutes_can_approve, minutes_lines_withhold
from .records import (
    MinutesError,
    action_item_create,
    action_item_status_set,
    decision_add,
    minutes_can_record,
    minutes_draft_edit,
    minutes_draft_generate,
    minutes_run_ended,
    note_add,
)

__all__ = [
    "MinutesError",
    "action_item_create",
    "action_item_status_set",
    "decision_add",
    "minutes_approve",
    "minutes_can_approve",
    "minutes_can_record",
    "minutes_draft_edit",
    "minutes_draft_generate",
    "minutes_lines_withhold",
    "minutes_run_ended",
    "note_add",
]
