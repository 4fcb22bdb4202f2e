"""Members for the benchmark (bench/): an open community, its rooms, and members who can
sign in with one password. Idempotent: running it again finds what exists, adds what is
missing and resets the password of the benchmark's members."""

import json

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from communities.enums import JoinPolicy, MembershipStatus, Role
from communities.models import Community, Membership
from rooms.enums import RoomKind
from rooms.models import Room
from rooms.services import room_create, room_get_or_create_for_community


class Command(BaseCommand):
    help = (
        "Create (or complete) a benchmark community with N rooms and M members per room "
        "(bench-<room id>-<i>@example.org), and print them as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rooms", type=int, default=1)
        parser.add_argument("--members", type=int, default=25, help="members per room")
        parser.add_argument("--password", required=True)
        parser.add_argument("--community", default="bench", help="the community's slug")

    def handle(self, *args, rooms, members, password, community, **options):
        if rooms < 1 or members < 1:
            raise CommandError("--rooms and --members must be at least 1.")
        with transaction.atomic():
            result = members_seed(slug=community, rooms=rooms, members=members, password=password)
        self.stdout.write(json.dumps(result))


def members_seed(*, slug: str, rooms: int, members: int, password: str) -> dict:
    community, _created = Community.objects.get_or_create(
        slug=slug, defaults={"name": f"Benchmark {slug}", "join_policy": JoinPolicy.OPEN}
    )
    # The community's own room first, then meeting side chats: all read by every member.
    room_list = [room_get_or_create_for_community(community=community)]
    room_list += list(
        Room.objects.filter(community=community, kind=RoomKind.MEETING).order_by("pk")
    )[: rooms - 1]
    while len(room_list) < rooms:
        room_list.append(
            room_create(
                community=community, kind=RoomKind.MEETING, title=f"Bench room {len(room_list)}"
            )
        )

    emails = {
        room.pk: [f"bench-{room.pk}-{i}@example.org" for i in range(members)] for room in room_list
    }
    everyone = [email for room_emails in emails.values() for email in room_emails]
    # One hash for everyone: hashing is what makes creating users slow, and the hasher
    # the settings put first (MD5 under bench.settings) is what logins will verify.
    password_hash = make_password(password)
    User.objects.bulk_create(
        [
            User(email=email, display_name=email.split("@")[0], password=password_hash)
            for email in everyone
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    User.objects.filter(email__in=everyone).update(password=password_hash, is_active=True)
    user_ids = list(User.objects.filter(email__in=everyone).values_list("pk", flat=True))
    now = timezone.now()
    Membership.objects.bulk_create(
        [
            Membership(
                community=community,
                user_id=user_id,
                role=Role.MEMBER,
                status=MembershipStatus.ACTIVE,
                joined_at=now,
            )
            for user_id in user_ids
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    Membership.objects.filter(community=community, user_id__in=user_ids).exclude(
        status=MembershipStatus.ACTIVE
    ).update(status=MembershipStatus.ACTIVE, joined_at=now, ended_at=None)
    return {
        "community": community.slug,
        "rooms": [{"id": room.pk, "members": emails[room.pk]} for room in room_list],
    }
