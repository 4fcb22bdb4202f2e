"""`seed_demo` gives every community its standing agenda and the demo community's next
meeting an agenda with a focus presentation, once, and sends no email."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from agendas.enums import TopicStatus
from agendas.models import Agenda, AgendaTemplate, Topic
from communities.models import Community
from meetings.enums import MeetingStatus
from meetings.models import Meeting

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_templates_topics_and_the_next_agenda_once(settings, mailoutbox):
    settings.DEBUG = True

    call_command("seed_demo", "--password", "demo-pass-4321", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())

    assert AgendaTemplate.objects.count() == Community.objects.count()
    community = Community.objects.get(slug="primary-care-cop")
    upcoming = (
        Meeting.objects.filter(
            community=community, status=MeetingStatus.SCHEDULED, starts_at__gt=timezone.now()
        )
        .order_by("starts_at")
        .first()
    )
    agenda = Agenda.objects.get(meeting=upcoming)
    assert agenda.focus_topic == "Same-day access slots: what worked in St. John's"
    assert agenda.presenter.email == "sean.obrien@example.org"
    assert agenda.items.count() == 5
    assert Agenda.objects.count() == 1
    topics = Topic.objects.filter(community=community)
    assert sorted(topics.values_list("status", flat=True)) == [
        TopicStatus.DONE,
        TopicStatus.PROPOSED,
        TopicStatus.PROPOSED,
    ]
    assert topics.get(status=TopicStatus.DONE).chosen_at.ends_at <= timezone.now()
    assert mailoutbox == []
