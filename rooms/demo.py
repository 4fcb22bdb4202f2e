"""A few messages in the demo community's room, so `make run` shows a live room."""

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from communities.models import Community

from .models import Message, Room
from .services import room_get_or_create_for_community

DEMO_MESSAGES = [
    ("claire.tremblay", "Welcome, everyone! Next call is the second Tuesday; agenda to follow."),
    ("sean.obrien", "Our clinic started same-day access slots this month. Happy to share how."),
    (
        "amelie.roy",
        "Bonjour à tous ! Des ressources sur la télésanté ? https://example.org/telesante",
    ),
    ("priya.natarajan", "We'd love to hear about those slots, Seán. How do you triage them?"),
    ("tom.clarke", "As a patient partner: same-day slots made a real difference for us."),
]


@transaction.atomic
def demo_room_seed(*, community: Community, domain: str) -> Room:
    """Idempotent: writes the messages only into an empty room."""
    room = room_get_or_create_for_community(community=community)
    if Message.objects.filter(room=room).exists():
        return room
    now = timezone.now()
    users = {u.email.split("@")[0]: u for u in User.objects.filter(email__endswith=f"@{domain}")}
    for index, (local, body) in enumerate(DEMO_MESSAGES, start=1):
        Message.objects.create(
            room=room,
            seq=index,
            author=users[local],
            client_id=f"demo-{index}",
            body=body,
            created_at=now - timedelta(hours=len(DEMO_MESSAGES) - index),
        )
    Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + len(DEMO_MESSAGES))
    return room
