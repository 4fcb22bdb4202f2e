from django.core.management.base import BaseCommand

from agendas.services import runs_maintain


class Command(BaseCommand):
    help = (
        "Move on the roundtable turns that ran out while no server process watched the "
        "meeting, and end the meetings left live two hours after their planned end. Safe "
        "to run any number of times; the Procfile's maintain process runs it every minute."
    )

    def handle(self, *args, **options):
        moved, ended = runs_maintain()
        self.stdout.write(f"{moved} turns moved on; {ended} meetings ended.")
