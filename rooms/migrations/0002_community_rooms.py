"""Every community has its chat room: communities made before rooms were created with
them (the room page used to make it on first view) get theirs now."""

from django.db import migrations


def community_rooms_create(apps, schema_editor):
    Community = apps.get_model("communities", "Community")
    Room = apps.get_model("rooms", "Room")
    lacking = Community.objects.exclude(rooms__kind="community")
    Room.objects.bulk_create(
        Room(community=community, kind="community", title=community.name)
        for community in lacking
    )


class Migration(migrations.Migration):

    dependencies = [
        ("communities", "0001_initial"),
        ("rooms", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(community_rooms_create, migrations.RunPython.noop, elidable=True),
    ]
