"""Hooks for the apps above (communities cannot import them); each registers in its
AppConfig.ready().

- Links on a community's page: the page shows each link to the people it is for.
- Callbacks run when a community is created, inside the creating transaction (e.g. rooms
  makes the community's chat room), so a community never exists without what they add.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class CommunityLink:
    label: str | Promise
    url_name: str  # reversed with the community's slug
    managers_only: bool = False


community_links: list[CommunityLink] = []


def community_link_register(link: CommunityLink) -> None:
    if link not in community_links:
        community_links.append(link)


# Each is called as callback(community=...) by communities.services.community_create.
community_created_callbacks: list[Callable[..., None]] = []


def community_created_register(callback: Callable[..., None]) -> None:
    if callback not in community_created_callbacks:
        community_created_callbacks.append(callback)


def community_created_run(*, community) -> None:
    """Run every registered callback for a community just saved. The caller holds the
    transaction: a callback that fails undoes the community too."""
    for callback in community_created_callbacks:
        callback(community=community)
