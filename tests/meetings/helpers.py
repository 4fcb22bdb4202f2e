"""What the meetings tests share: a community with members joined in a known order, a
monthly series, and a snapshot of every meetings row to show that a refusal changed nothing."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from communities.enums import Role
from communities.models import Membership
from meetings import services
from meetings.models import Answer, Attendance, ChairChange, ChairSwap, Invitation, Meeting, Series
from rooms.models import Room
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

# A Monday; the series below starts on the second Tuesday of January (the 13th).
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
SECOND_TUESDAY = "FREQ=MONTHLY;BYDAY=2TU"
SECOND_TUESDAYS_2026 = [
    date(2026, 1, 13),
    date(2026, 2, 10),
    date(2026, 3, 10),
    date(2026, 4, 14),
    date(2026, 5, 12),
    date(2026, 6, 9),
    date(2026, 7, 14),
    date(2026, 8, 11),
    date(2026, 9, 8),
    date(2026, 10, 13),
    date(2026, 11, 10),
    date(2026, 12, 8),
]


def community_with(
    members: int = 3,
    *,
    zone: str = "America/Vancouver",
    manager_willing: bool = False,
    joined: datetime = NOW - timedelta(days=400),
    **community_fields,
):
    """A community, its manager (not willing to chair unless asked) and `members` members
    who joined one day apart, the first one first. Returns (community, manager, members)."""
    community = CommunityFactory(
        timezone=zone, video_url="https://video.example.org/cop", **community_fields
    )
    manager = MembershipFactory(
        community=community,
        role=Role.MANAGER,
        joined_at=joined - timedelta(days=1),
        willing_to_chair=manager_willing,
        user=UserFactory(display_name="Manager"),
    ).user
    users = [
        MembershipFactory(
            community=community,
            joined_at=joined + timedelta(days=i),
            user=UserFactory(display_name=f"Member {chr(ord('A') + i)}"),
        ).user
        for i in range(members)
    ]
    return community, manager, users


def member_add(community, *, joined: datetime, willing: bool = True, name: str | None = None):
    fields = {"display_name": name} if name else {}
    return MembershipFactory(
        community=community, joined_at=joined, willing_to_chair=willing, user=UserFactory(**fields)
    ).user


def series_make(
    community,
    manager,
    *,
    rrule: str = SECOND_TUESDAY,
    first_date: date = date(2026, 1, 1),
    start_time: time = time(12, 0),
    now: datetime = NOW,
    **fields,
) -> Series:
    series, _result = services.series_create(
        actor=manager,
        community=community,
        title=fields.pop("title", "Monthly call"),
        rrule=rrule,
        first_date=first_date,
        start_time=start_time,
        now=now,
        **fields,
    )
    return series


def meetings_of(series_or_community) -> list[Meeting]:
    if isinstance(series_or_community, Series):
        found = Meeting.objects.filter(series=series_or_community)
    else:
        found = Meeting.objects.filter(community=series_or_community)
    return list(found.order_by("starts_at", "id"))


def db_state() -> dict:
    """Every row the meetings services write, as plain values: equal before and after a
    refused action means it changed nothing."""
    models = [Series, Meeting, ChairChange, ChairSwap, Answer, Attendance, Invitation, Room]
    state = {m.__name__: list(m.objects.order_by("pk").values()) for m in models}
    state["Membership"] = list(Membership.objects.order_by("pk").values())
    return state


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)
