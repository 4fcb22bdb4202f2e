from django.core.management.base import BaseCommand

from outbox.services import outbox_send_due


class Command(BaseCommand):
    help = "Send the outbox's due messages: retries whose time came, leases that ran out."

    def handle(self, *args, **options):
        sent = outbox_send_due()
        self.stdout.write(f"{sent} sent")
