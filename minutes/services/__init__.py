"""Every write of the minutes, one module per part; callers import them from here
(`from minutes import services`).

Each service checks the actor's permission itself and raises `MinutesError` (a message for
people, a stable `code`) or `CommunityNotFound` (an invitation-only community the actor may
not see). On refusal nothing changes.
"""

from .approval import (
    minutes_approve,
    minutes_can_approve,
    minutes_can_withhold,
    minutes_lines_withhold,
)
from .distribution import (
    ALLOWED_TYPES,
    attachment_add,
    attachment_delete,
    minutes_can_distribute,
    minutes_distribute,
    minutes_emails_retry,
    minutes_recording_set,
)
from .records import (
    MinutesError,
    action_item_create,
    action_item_status_set,
    agenda_created_review,
    decision_add,
    minutes_can_record,
    minutes_draft_edit,
    minutes_draft_generate,
    minutes_run_ended,
    note_add,
)

__all__ = [
    "ALLOWED_TYPES",
    "MinutesError",
    "action_item_create",
    "action_item_status_set",
    "agenda_created_review",
    "attachment_add",
    "attachment_delete",
    "decision_add",
    "minutes_approve",
    "minutes_can_approve",
    "minutes_can_distribute",
    "minutes_can_record",
    "minutes_can_withhold",
    "minutes_distribute",
    "minutes_draft_edit",
    "minutes_draft_generate",
    "minutes_emails_retry",
    "minutes_lines_withhold",
    "minutes_recording_set",
    "minutes_run_ended",
    "note_add",
]
