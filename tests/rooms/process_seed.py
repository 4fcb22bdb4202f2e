"""A room with signed-in members, for tests that run real server processes.

`seed(members=N)` writes through this process's ORM. `python -m tests.rooms.process_seed N`
does the same against the `DATABASE_URL` it is given and prints the result as JSON, for a
database the test process is not set up for (a PostgreSQL one during a SQLite run).
"""

import json
import secrets
import sys


def seed(*, members: int) -> dict:
    """A fresh open community, its room and `members` active members, each with a real
    session: {"room": id, "members": [{"id", "name", "cookie"}]}."""
    from communities.enums import JoinPolicy
    from rooms.enums import RoomKind
    from rooms.models import Room
    from tests.factories import CommunityFactory, MembershipFactory, UserFactory
    from tests.rooms.conftest import session_cookie

    token = secrets.token_hex(4)
    community = CommunityFactory(
        join_policy=JoinPolicy.OPEN, name=f"Processes {token}", slug=f"processes-{token}"
    )
    # Pub/sub channel names are global on a shared Redis, whatever the database: a room id
    # no other test run uses keeps its events out of this room's group, and ours out of its.
    community.rooms.all().delete()  # the one it was made with, under a usual id
    room = Room.objects.create(
        pk=10**12 + secrets.randbelow(10**12),
        community=community,
        kind=RoomKind.COMMUNITY,
        title=community.name,
    )
    people = []
    for n in range(members):
        user = UserFactory(
            email=f"member{n}-{token}@example.org", display_name=f"Member {n} {token}"
        )
        MembershipFactory(community=community, user=user)
        people.append({"id": user.pk, "name": user.display_name, "cookie": session_cookie(user)})
    return {"room": room.pk, "members": people}


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(seed(members=int(sys.argv[1]))))
