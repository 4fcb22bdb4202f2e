from django.core.management.base import BaseCommand

from meetings.services import meetings_maintain


class Command(BaseCommand):
    help = (
        "Keep every meeting series' meetings created to the horizon ahead "
        "(MEETINGS_HORIZON_MONTHS), confirm the chairs that are due, queue the "
        "invitations series send by themselves, and give each upcoming meeting's "
        "invitations to the members who miss one and its cancellation to those who "
        "are no longer members. Safe to run any number of times; run it at least daily "
        "(see the README)."
    )

    def handle(self, *args, **options):
        result = meetings_maintain()
        self.stdout.write(
            f"{result.series} series kept up to date: {result.created} meetings created, "
            f"{result.updated} updated, {result.cancelled} cancelled; "
            f"{result.chairs_confirmed} chairs confirmed; "
            f"{result.invitations_sent} invitations queued; "
            f"reconciled with the members: {result.invitations_reconciled} invitations and "
            f"{result.cancellations_reconciled} cancellations queued."
        )
        if result.failed:
            self.stderr.write(f"{result.failed} series could not be kept up to date (logged).")
        if result.reconcile_failed:
            self.stderr.write(
                f"{result.reconcile_failed} meetings' invitations could not be reconciled (logged)."
            )
