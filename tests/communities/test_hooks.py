"""The registry the apps above use to add their parts when a community is created."""

import pytest

from communities import hooks, services
from communities.models import Community
from tests.factories import CommunityFactory, UserFactory


@pytest.fixture
def registered(monkeypatch):
    """A registry holding only what the test registers (the apps' own callbacks are
    restored afterwards)."""
    monkeypatch.setattr(hooks, "community_created_callbacks", [])
    return hooks.community_created_callbacks


@pytest.mark.django_db
def test_community_create_runs_each_callback_once_with_the_saved_community(registered):
    calls = []
    hooks.community_created_register(lambda *, community: calls.append(("a", community.pk)))
    hooks.community_created_register(lambda *, community: calls.append(("b", community.pk)))

    community = services.community_create(
        actor=UserFactory(is_staff=True), name="Rural Medicine", slug="rural-medicine"
    )

    assert calls == [("a", community.pk), ("b", community.pk)]


def test_community_created_register_twice_registers_once(registered):
    def callback(*, community):
        pass

    hooks.community_created_register(callback)
    hooks.community_created_register(callback)

    assert registered == [callback]


@pytest.mark.django_db
def test_community_create_failing_callback_creates_nothing(registered):
    def fail(*, community):
        raise RuntimeError("the room could not be made")

    hooks.community_created_register(fail)

    with pytest.raises(RuntimeError):
        services.community_create(
            actor=UserFactory(is_staff=True), name="Rural Medicine", slug="rural-medicine"
        )

    assert Community.objects.count() == 0


@pytest.mark.django_db
def test_community_factory_runs_the_callbacks(registered):
    seen = []
    hooks.community_created_register(lambda *, community: seen.append(community.pk))

    community = CommunityFactory()

    assert seen == [community.pk]
