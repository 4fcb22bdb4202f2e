from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from .enums import EmailState
from .models import Email


def outbox_summary(*, emails: QuerySet[Email] | None = None) -> dict[str, dict[str, int]]:
    """How many messages of each kind are in each state: {kind: {state: count}}."""
    emails = Email.objects.all() if emails is None else emails
    summary: dict[str, dict[str, int]] = {}
    for row in emails.order_by().values("kind", "state").annotate(n=Count("pk")):
        summary.setdefault(row["kind"], {})[row["state"]] = row["n"]
    return summary


def outbox_failed(*, emails: QuerySet[Email] | None = None) -> QuerySet[Email]:
    emails = Email.objects.all() if emails is None else emails
    return emails.filter(state="failed").order_by("kind", "to")


@dataclass(frozen=True)
class MailProgress:
    kind: str
    label: str
    total: int
    sent: int
    failed: int
    waiting: int
    reasons: list[tuple[str, int]]  # (last error, how many), most frequent first


def outbox_progress(
    *, emails: QuerySet[Email], labels: Mapping[str, str] | None = None
) -> list[MailProgress]:
    """Per kind of the `emails`: how many were sent, failed (and why), wait ("sent 37 of
    40, 3 failed: <reason>"). Kinds in the order of `labels` (their names for people),
    the others after. Two queries."""
    labels = dict(labels or {})
    # A message a newer one replaced before it went is neither sent nor to be sent.
    emails = emails.order_by().exclude(state=EmailState.SUPERSEDED)
    counts: dict[str, dict[str, int]] = {}
    for row in emails.values("kind", "state").annotate(n=Count("pk")):
        counts.setdefault(row["kind"], {})[row["state"]] = row["n"]
    reasons: dict[str, list[tuple[str, int]]] = {}
    failed = emails.filter(state=EmailState.FAILED).values("kind", "last_error")
    for row in failed.annotate(n=Count("pk")).order_by("-n", "last_error"):
        reason = " ".join(row["last_error"].split())[:300]
        reasons.setdefault(row["kind"], []).append((reason, row["n"]))
    order = {kind: i for i, kind in enumerate(labels)}
    return [
        MailProgress(
            kind=kind,
            label=labels.get(kind, kind),
            total=sum(states.values()),
            sent=states.get(EmailState.SENT, 0),
            failed=states.get(EmailState.FAILED, 0),
            waiting=states.get(EmailState.QUEUED, 0) + states.get(EmailState.SENDING, 0),
            reasons=reasons.get(kind, []),
        )
        for kind, states in sorted(counts.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    ]
