"""The shared HTTP helpers every app's community pages use, called with real requests."""

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import Http404, HttpResponse
from django.test import RequestFactory
from django.utils.html import escape

from communities import services
from communities.enums import JoinPolicy, Role
from communities.http import manager_view, perform, refusal_response, with_community
from communities.selectors import CommunityNotFound
from tests.factories import CommunityFactory, MembershipFactory, UserFactory


def _request(user=None):
    request = RequestFactory().get("/somewhere/")
    request.user = user if user is not None else UserFactory.build()
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def _messages(request) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(request)]


@with_community
def _seen(request, community, membership):
    return HttpResponse(f"{community.slug} {membership.pk if membership else None}")


@manager_view
def _managed(request, community, membership):
    return HttpResponse(f"managed {community.slug}")


@pytest.mark.django_db
def test_with_community_passes_the_community_and_membership():
    community = CommunityFactory(slug="rural-care")
    membership = MembershipFactory(community=community)

    response = _seen(_request(membership.user), slug="rural-care")

    assert response.content.decode() == f"rural-care {membership.pk}"


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["no-such-community", "hidden"])
def test_with_community_unknown_or_hidden_is_not_found(slug):
    CommunityFactory(slug="hidden", join_policy=JoinPolicy.INVITATION)

    with pytest.raises(Http404):
        _seen(_request(UserFactory()), slug=slug)


@pytest.mark.django_db
def test_manager_view_lets_a_manager_through():
    community = CommunityFactory(slug="rural-care")
    manager = MembershipFactory(community=community, role=Role.MANAGER).user

    response = _managed(_request(manager), slug="rural-care")

    assert (response.status_code, response.content.decode()) == (200, "managed rural-care")


@pytest.mark.django_db
def test_manager_view_refuses_a_member_with_403():
    community = CommunityFactory(slug="rural-care")
    member = MembershipFactory(community=community).user

    response = _managed(_request(member), slug="rural-care")

    assert response.status_code == 403
    assert escape("Only this community's managers can do that.") in response.content.decode()


@pytest.mark.django_db
def test_refusal_response_not_forbidden_goes_back_with_the_reason():
    community = CommunityFactory(slug="rural-care")
    request = _request()

    response = refusal_response(
        request, community, services.CommunityActionError("Not now.", code="later")
    )

    assert (response.status_code, response["Location"]) == (302, "/c/rural-care/")
    assert _messages(request) == [("error", "Not now.")]


@pytest.mark.django_db
def test_perform_returns_the_result():
    community = CommunityFactory()

    assert perform(_request(), community, lambda: 42) == (42, None)


@pytest.mark.django_db
def test_perform_refused_returns_the_refusal_response():
    community = CommunityFactory()

    def refuse():
        raise services.manager_required_error()

    result, response = perform(_request(), community, refuse)

    assert result is None
    assert response.status_code == 403


@pytest.mark.django_db
def test_perform_hidden_community_is_not_found():
    community = CommunityFactory()

    def hidden():
        raise CommunityNotFound(community.slug)

    with pytest.raises(Http404):
        perform(_request(), community, hidden)
