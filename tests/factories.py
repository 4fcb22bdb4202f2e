from datetime import timedelta

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import User
from communities.enums import JoinPolicy, MembershipStatus, Role
from communities.hooks import community_created_run
from communities.models import Community, Invitation, Membership

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    display_name = factory.Sequence(lambda n: f"Person {n}")
    timezone = "America/Toronto"
    language = "en"
    # Hashed once and stored with the row: one save, as sign-up makes it.
    password = factory.LazyFunction(lambda: make_password(PASSWORD))


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    name = factory.Sequence(lambda n: f"Community {n}")
    slug = factory.Sequence(lambda n: f"community-{n}")
    join_policy = JoinPolicy.OPEN
    timezone = "America/Toronto"
    language = "en"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # What communities.services.community_create runs: the apps' parts (its chat room).
        community = super()._create(model_class, *args, **kwargs)
        community_created_run(community=community)
        return community


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    community = factory.SubFactory(CommunityFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER
    status = MembershipStatus.ACTIVE
    joined_at = factory.LazyFunction(timezone.now)
    requested_at = None


class PendingMembershipFactory(MembershipFactory):
    """A request to join that waits for a manager."""

    status = MembershipStatus.PENDING
    joined_at = None
    requested_at = factory.LazyFunction(timezone.now)


class InvitationFactory(factory.django.DjangoModelFactory):
    """A usable invitation link: not used, not revoked, expires in a week."""

    class Meta:
        model = Invitation

    community = factory.SubFactory(CommunityFactory, join_policy=JoinPolicy.INVITATION)
    token = factory.Sequence(lambda n: f"test-invitation-token-{n:04d}")
    created_by = None
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class RoomFactory(factory.django.DjangoModelFactory):
    """A community's chat room: the one its community was created with."""

    class Meta:
        model = "rooms.Room"

    community = factory.SubFactory(CommunityFactory)
    kind = "community"
    title = factory.LazyAttribute(lambda room: room.community.name)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        community = kwargs["community"]
        if kwargs["kind"] == "community":
            made = model_class.objects.filter(community=community, kind="community").first()
            if made is not None:
                made.community = community  # as given: reading it costs no query
                return made
        return super()._create(model_class, *args, **kwargs)


class MessageFactory(factory.django.DjangoModelFactory):
    """A stored message. Its `seq` is the room's next one, handed out as `message_send`
    does, so rooms stay gap-free."""

    class Meta:
        model = "rooms.Message"

    room = factory.SubFactory(RoomFactory)
    author = factory.SubFactory(UserFactory)
    client_id = factory.Sequence(lambda n: f"client-{n:06d}")
    body = factory.Sequence(lambda n: f"Message number {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from django.db.models import F

        from rooms.models import Room

        if "seq" not in kwargs:
            room = kwargs["room"]
            Room.objects.filter(pk=room.pk).update(last_seq=F("last_seq") + 1)
            kwargs["seq"] = Room.objects.values_list("last_seq", flat=True).get(pk=room.pk)
        return super()._create(model_class, *args, **kwargs)
