import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.services import PROFILE_FIELDS, profile_update, user_sign_up, user_sign_up_confirm
from tests.factories import PASSWORD, UserFactory


def stored_profile(user):
    return User.objects.filter(pk=user.pk).values(*PROFILE_FIELDS).get()


@pytest.mark.django_db
def test_user_sign_up_stores_a_lowercase_email_and_the_profile_unconfirmed():
    user_sign_up(
        email="Amelie.Roy@Example.ORG",
        password=PASSWORD,
        display_name="Dr. Amélie Roy",
        timezone="America/St_Johns",
        language="fr",
    )

    user = User.objects.get()
    assert (user.email, user.display_name, user.timezone, user.language) == (
        "amelie.roy@example.org",
        "Dr. Amélie Roy",
        "America/St_Johns",
        "fr",
    )
    assert (user.is_active, user.email_confirmed) == (False, False)
    assert user.check_password(PASSWORD) is True


@pytest.mark.django_db
def test_user_sign_up_confirm_makes_the_account_usable():
    user_sign_up(email="person@example.org", password=PASSWORD, display_name="Sam")

    user = user_sign_up_confirm(user=User.objects.get())

    assert User.objects.filter(pk=user.pk).values_list("is_active", "email_confirmed").get() == (
        True,
        True,
    )


@pytest.mark.django_db
def test_user_sign_up_unknown_field_is_refused():
    with pytest.raises(TypeError, match="unknown profile field 'is_staff'"):
        user_sign_up(
            email="person@example.org", password=PASSWORD, display_name="Sam", is_staff=True
        )

    assert User.objects.count() == 0


@pytest.mark.django_db
def test_user_sign_up_case_variant_of_an_account_changes_nothing_and_tells_the_owner(
    mailoutbox, django_capture_on_commit_callbacks
):
    owner = UserFactory(email="person@example.org")
    before = User.objects.filter(pk=owner.pk).values().get()

    with django_capture_on_commit_callbacks(execute=True):
        result = user_sign_up(email="PERSON@example.org", password=PASSWORD, display_name="Copy")

    assert result is None
    assert list(User.objects.values()) == [before]
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["person@example.org"], "Someone tried to create an account with your address")
    ]


@pytest.mark.django_db
def test_user_sign_up_deactivated_account_stays_deactivated(
    mailoutbox, django_capture_on_commit_callbacks
):
    # Staff switched it off: a sign-up must not bring it back.
    owner = UserFactory(email="person@example.org", is_active=False)
    before = User.objects.filter(pk=owner.pk).values().get()

    with django_capture_on_commit_callbacks(execute=True):
        user_sign_up(email="person@example.org", password=PASSWORD, display_name="Again")

    assert list(User.objects.values()) == [before]
    assert "/accounts/signup/confirm/" not in mailoutbox[0].body


@pytest.mark.django_db
def test_user_sign_up_unknown_time_zone_creates_nothing():
    with pytest.raises(ValidationError):
        user_sign_up(
            email="person@example.org",
            password=PASSWORD,
            display_name="Sam",
            timezone="Mars/Olympus",
        )

    assert User.objects.count() == 0


@pytest.mark.django_db
def test_profile_update_saves_only_the_given_fields():
    user = UserFactory(display_name="Dr. Lee", background="Nurse")

    profile_update(user=user, background="Nurse practitioner, Iqaluit", province="NU")

    assert stored_profile(user) == {
        "display_name": "Dr. Lee",
        "background": "Nurse practitioner, Iqaluit",
        "interests": "",
        "province": "NU",
        "timezone": "America/Toronto",
        "language": "en",
    }


@pytest.mark.django_db
def test_profile_update_unknown_field_is_refused():
    user = UserFactory()

    with pytest.raises(TypeError, match="unknown profile field 'is_superuser'"):
        profile_update(user=user, is_superuser=True)

    user.refresh_from_db()
    assert user.is_superuser is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"display_name": ""},
        {"background": "b" * 201},
        {"timezone": "Mars/Olympus"},
        {"province": "XX"},
        {"language": "de"},
    ],
)
def test_profile_update_bad_value_changes_nothing(fields):
    user = UserFactory(display_name="Dr. Lee")
    before = stored_profile(user)

    with pytest.raises(ValidationError) as caught:
        profile_update(user=user, **fields)

    assert list(caught.value.message_dict) == list(fields)
    assert stored_profile(user) == before


@pytest.mark.django_db(transaction=True)
def test_user_sign_up_lost_race_tells_the_owner(monkeypatch, mailoutbox):
    # Another sign-up made the account between the look-up and the insert.
    owner = UserFactory(email="race@example.org")
    before = User.objects.filter(pk=owner.pk).values().get()
    real_lookup = User.objects.select_for_update
    looked_up = []

    def missing_the_first_time(*args, **kwargs):
        if not looked_up:
            looked_up.append(True)
            return User.objects.none()
        return real_lookup(*args, **kwargs)

    monkeypatch.setattr(User.objects, "select_for_update", missing_the_first_time)

    user_sign_up(email="Race@Example.org", password="x-long-password-1", display_name="R")

    assert looked_up == [True]
    assert list(User.objects.values()) == [before]
    assert [m.subject for m in mailoutbox] == [
        "Someone tried to create an account with your address"
    ]
