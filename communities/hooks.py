"""Links the apps above add to a community's page (communities cannot import them).

An app registers in its AppConfig.ready(); the community page shows each link to the
people it is for.
"""

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
