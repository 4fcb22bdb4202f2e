"""Every community has its agenda template: communities made before agendas were created
with them get theirs now, with the five standing items titled in their language."""

from django.db import migrations
from django.utils import translation

# As agendas.services.STANDING_ITEMS was when this ran: (kind, title, minutes, per member).
STANDING = (
    ("introductions", "New members introduction", 5, False),
    ("roundtable", "Current progress / initiatives roundtable", 2, True),
    ("focus", "Focus presentation", 15, False),
    ("discussion", "Open discussion", 20, False),
    ("future", "Future agenda and next meeting", 5, False),
)


def templates_create(apps, schema_editor):
    Community = apps.get_model("communities", "Community")
    AgendaTemplate = apps.get_model("agendas", "AgendaTemplate")
    TemplateItem = apps.get_model("agendas", "TemplateItem")
    for community in Community.objects.filter(agenda_template__isnull=True).order_by("pk"):
        template = AgendaTemplate.objects.create(community=community)
        with translation.override(community.language):
            TemplateItem.objects.bulk_create(
                TemplateItem(
                    template=template,
                    kind=kind,
                    title=translation.gettext(title),
                    minutes=minutes,
                    per_member=per_member,
                    position=position,
                )
                for position, (kind, title, minutes, per_member) in enumerate(STANDING)
            )


class Migration(migrations.Migration):

    dependencies = [
        ("agendas", "0001_initial"),
        ("communities", "0003_community_contact_email"),
    ]

    operations = [
        migrations.RunPython(templates_create, migrations.RunPython.noop, elidable=True),
    ]
