"""Data migrations of rooms, run as functions on the current models."""

import importlib

import pytest
from django.apps import apps

from communities.models import Community
from rooms.enums import RoomKind
from rooms.models import Room
from tests.factories import CommunityFactory

community_rooms = importlib.import_module("rooms.migrations.0002_community_rooms")


@pytest.mark.django_db
def test_community_rooms_create_fills_in_missing_rooms_only():
    with_room = CommunityFactory(name="Has one")
    kept = Room.objects.get(community=with_room)
    Room.objects.create(community=with_room, kind=RoomKind.MEETING, title="Journal club")
    # Communities made before rooms came with them: rows without their room.
    lacking = Community.objects.create(name="Lacks one", slug="lacks-one")
    meeting_only = Community.objects.create(name="Meeting only", slug="meeting-only")
    Room.objects.create(community=meeting_only, kind=RoomKind.MEETING, title="Side chat")

    community_rooms.community_rooms_create(apps, None)

    assert sorted(
        Room.objects.filter(kind=RoomKind.COMMUNITY).values_list("community", "title")
    ) == sorted(
        [(with_room.pk, "Has one"), (lacking.pk, "Lacks one"), (meeting_only.pk, "Meeting only")]
    )
    assert Room.objects.get(community=with_room, kind=RoomKind.COMMUNITY).pk == kept.pk
