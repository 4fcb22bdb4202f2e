"""A meeting with its agenda, chair, a manager and signed-in members, for tests that run
real server processes.

`seed(members=N, turn_seconds=S)` writes through this process's ORM;
`python -m tests.agendas.process_seed N S` does the same against the `DATABASE_URL` it is
given and prints the result as JSON (a PostgreSQL database during a SQLite run).
"""

import json
import secrets
import sys


def seed(*, members: int, turn_seconds: int = 60) -> dict:
    """{"meeting": id, "chair": person, "manager": person, "members": [person]}, each
    person {"id", "name", "cookie"}; the chair is members[0]."""
    from datetime import timedelta

    from django.utils import timezone

    from agendas.enums import ItemKind
    from agendas.models import Agenda, AgendaItem, AgendaTemplate
    from communities.enums import JoinPolicy, Role
    from meetings.models import Meeting
    from tests.factories import CommunityFactory, MembershipFactory, UserFactory
    from tests.rooms.conftest import session_cookie

    token = secrets.token_hex(4)
    community = CommunityFactory(
        join_policy=JoinPolicy.OPEN, name=f"Meeting {token}", slug=f"meeting-{token}"
    )
    # Group names (`meeting.<id>`) are global on a shared Redis: an id no other run uses.
    AgendaTemplate.objects.update_or_create(
        community=community, defaults={"turn_seconds": turn_seconds}
    )
    now = timezone.now()

    def person(user):
        return {"id": user.pk, "name": user.display_name, "cookie": session_cookie(user)}

    manager = UserFactory(email=f"manager-{token}@example.org", display_name=f"Manager {token}")
    MembershipFactory(community=community, user=manager, role=Role.MANAGER)
    people = []
    for n in range(members):
        user = UserFactory(
            email=f"member{n}-{token}@example.org", display_name=f"Member {n:02d} {token}"
        )
        MembershipFactory(community=community, user=user)
        people.append(user)
    meeting = Meeting.objects.create(
        pk=10**12 + secrets.randbelow(10**12),
        community=community,
        title="Monthly call",
        starts_at=now + timedelta(minutes=10),
        duration_minutes=60,
        timezone="UTC",
        chair=people[0],
        backup=people[1] if members > 1 else None,
        chair_confirmed_at=now,
    )
    agenda = Agenda.objects.get_or_create(meeting=meeting)[0]
    agenda.items.all().delete()
    for position, kind in enumerate([ItemKind.INTRODUCTIONS, ItemKind.ROUNDTABLE, ItemKind.FOCUS]):
        AgendaItem.objects.create(
            agenda=agenda, kind=kind, title=str(kind.label), minutes=5, position=position
        )
    return {
        "meeting": meeting.pk,
        "chair": person(people[0]),
        "manager": person(manager),
        "members": [person(user) for user in people],
    }


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(seed(members=int(sys.argv[1]), turn_seconds=int(sys.argv[2]))))
