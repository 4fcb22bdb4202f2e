"""The demo community that `seed_demo` creates, modelled on the terms of reference in
PRODUCT.md: a monthly one-hour video call, a rotating chair, staff who manage it."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User

from .enums import JoinPolicy, MembershipStatus, Role
from .hooks import community_created_run
from .models import Community, Membership

DEMO_DOMAIN = "example.org"

# (email local part, display name, background, province, zone, language, days since joining)
PEOPLE = [
    (
        "claire.tremblay",
        "Claire Tremblay",
        "Community coordinator, Ottawa",
        "ON",
        "America/Toronto",
        "fr",
        400,
    ),
    (
        "amelie.roy",
        "Dr. Amélie Roy",
        "Family physician, Montréal",
        "QC",
        "America/Toronto",
        "fr",
        300,
    ),
    (
        "sean.obrien",
        "Dr. Seán O'Brien",
        "Family physician, St. John's",
        "NL",
        "America/St_Johns",
        "en",
        250,
    ),
    (
        "priya.natarajan",
        "Priya Natarajan",
        "Clinic manager, Kamloops",
        "BC",
        "America/Vancouver",
        "en",
        200,
    ),
    (
        "marc.gagnon",
        "Dr. Marc Gagnon",
        "Emergency physician, Moncton",
        "NB",
        "America/Moncton",
        "fr",
        120,
    ),
    ("jordan.bird", "Jordan Bird", "Nurse practitioner, Regina", "SK", "America/Regina", "en", 60),
    (
        "louise.belanger",
        "Louise Bélanger",
        "Health-system planner, Winnipeg",
        "MB",
        "America/Winnipeg",
        "fr",
        12,
    ),
    ("tom.clarke", "Tom Clarke", "Patient partner, Edmonton", "AB", "America/Edmonton", "en", 5),
]
ADMIN = ("admin", "Site Administrator", "America/Toronto", "en")

COMMUNITIES = [
    {
        "slug": "primary-care-cop",
        "name": "Primary Care Community of Practice",
        "description": (
            "Physicians, clinic staff and health-system stakeholders improving primary care "
            "together. We meet by video call once a month for an hour: new members, a "
            "one-minute roundtable on current challenges and successes, a focus presentation, "
            "open discussion, and the next meeting's agenda. The chair rotates every meeting."
        ),
        "language": "en",
        "timezone": "America/Toronto",
        "video_url": "https://meet.example.org/primary-care-cop",
        "join_policy": JoinPolicy.REQUEST,
        "members": [p[0] for p in PEOPLE],
    },
    {
        "slug": "soins-virtuels",
        "name": "Soins virtuels — communauté ouverte",
        "description": (
            "Échanges ouverts sur les soins virtuels en première ligne : outils, "
            "organisation du travail et expérience des patients."
        ),
        "language": "fr",
        "timezone": "America/Toronto",
        "video_url": "",
        "join_policy": JoinPolicy.OPEN,
        "members": ["claire.tremblay", "amelie.roy", "marc.gagnon", "louise.belanger"],
    },
    {
        "slug": "chairs-circle",
        "name": "Chairs' circle",
        "description": "Members who have chaired a meeting, preparing handovers together.",
        "language": "en",
        "timezone": "America/Toronto",
        "video_url": "",
        "join_policy": JoinPolicy.INVITATION,
        "members": ["claire.tremblay", "sean.obrien", "priya.natarajan"],
    },
]


def _email(local: str) -> str:
    return f"{local}@{DEMO_DOMAIN}"


@transaction.atomic
def demo_seed(*, password: str, reset_passwords: bool) -> list[tuple[str, str, str]]:
    """Create or update the demo people and communities. Returns (email, name, role) rows.

    Idempotent: running it again updates the same rows; passwords change only when
    `reset_passwords` is true.
    """
    now = timezone.now()
    users: dict[str, User] = {}
    rows = []
    admin_local, admin_name, admin_zone, admin_lang = ADMIN
    people = [(admin_local, admin_name, "", "", admin_zone, admin_lang, 500), *PEOPLE]
    for local, name, background, province, zone, language, _days in people:
        user, created = User.objects.update_or_create(
            email=_email(local),
            defaults={
                "display_name": name,
                "background": background,
                "province": province,
                "timezone": zone,
                "language": language,
                "is_staff": local == admin_local,
                "is_superuser": local == admin_local,
            },
        )
        if created or reset_passwords:
            user.set_password(password)
            user.save(update_fields=["password"])
        users[local] = user
    joined_days = {p[0]: p[6] for p in PEOPLE}
    manager = PEOPLE[0][0]
    for spec in COMMUNITIES:
        fields = {k: v for k, v in spec.items() if k not in ("slug", "members")}
        community, created = Community.objects.update_or_create(slug=spec["slug"], defaults=fields)
        if created:
            # What community_create runs: the apps' parts (its chat room).
            community_created_run(community=community)
        for local in spec["members"]:
            # Existing memberships are left as they are: a rerun must not undo what
            # people did in the demo.
            Membership.objects.get_or_create(
                community=community,
                user=users[local],
                defaults={
                    "role": Role.MANAGER if local == manager else Role.MEMBER,
                    "status": MembershipStatus.ACTIVE,
                    "joined_at": now - timedelta(days=joined_days[local]),
                },
            )
    rows.append((_email(admin_local), admin_name, "site administrator"))
    for local, name, *_rest in PEOPLE:
        rows.append((_email(local), name, "manager" if local == manager else "member"))
    return rows
