"""What rooms adds when communities change: a new community's room, a kick on leaving."""

import pytest

from communities import services as community_services
from rooms.enums import RoomKind
from rooms.models import Room
from tests.factories import UserFactory


@pytest.mark.django_db
def test_community_create_through_the_service_makes_one_community_room():
    community = community_services.community_create(
        actor=UserFactory(is_staff=True), name="Rural Medicine", slug="rural-medicine"
    )

    assert list(Room.objects.values_list("community", "kind", "title")) == [
        (community.pk, RoomKind.COMMUNITY, "Rural Medicine")
    ]


@pytest.mark.django_db
def test_community_create_through_the_admin_makes_one_community_room(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(
        "/admin/communities/community/add/",
        {
            "name": "Rural Medicine",
            "slug": "rural-medicine",
            "description": "",
            "language": "en",
            "timezone": "America/Toronto",
            "video_url": "",
            "join_policy": "open",
            "created_at_0": "2026-11-24",
            "created_at_1": "09:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    assert list(Room.objects.values_list("community__slug", "kind", "title")) == [
        ("rural-medicine", RoomKind.COMMUNITY, "Rural Medicine")
    ]
