from django.db.models import Count, QuerySet

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
