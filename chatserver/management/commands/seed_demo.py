import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agendas.demo import demo_agendas_seed
from communities.demo import DEMO_DOMAIN, demo_seed
from communities.models import Community
from meetings.demo import demo_meetings_seed
from rooms.demo import demo_room_seed


class Command(BaseCommand):
    help = (
        "Create (or bring up to date) a demo community of practice with a manager, members "
        "in several time zones and both languages, and a site administrator."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help="Password for every demo login (default: $DEMO_PASSWORD, else a random one). "
            "Given, it also resets the password of logins that already exist.",
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (a real site)."
        )

    def handle(self, *args, password=None, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: this looks like a real site, and seed_demo would add demo "
                "logins to it. Pass --force if you really mean it."
            )
        password = password or os.environ.get("DEMO_PASSWORD") or ""
        given = bool(password)
        if not given:
            password = secrets.token_urlsafe(12)
        rows = demo_seed(password=password, reset_passwords=given)
        community = Community.objects.get(slug="primary-care-cop")
        demo_room_seed(community=community, domain=DEMO_DOMAIN)
        demo_meetings_seed(community=community, domain=DEMO_DOMAIN)
        demo_agendas_seed(community=community, domain=DEMO_DOMAIN)
        self.stdout.write(self.style.SUCCESS("Demo community ready."))
        width = max(len(email) for email, _name, _role in rows)
        for email, name, role in rows:
            self.stdout.write(f"  {email:<{width}}  {role:<18}  {name}")
        if given:
            self.stdout.write(f"Password for every login: {password}")
        else:
            self.stdout.write(
                f"Password for new logins: {password}\n"
                "(Logins that already existed keep their password; pass --password or set "
                "DEMO_PASSWORD to set it for all.)"
            )
