import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.services import PROFILE_FIELDS, profile_update, user_sign_up
from tests.factories import PASSWORD, UserFactory


def stored_profile(user):
    return User.objects.filter(pk=user.pk).values(*PROFILE_FIELDS).get()


@pytest.mark.django_db
def test_user_sign_up_stores_a_lowercase_email_and_the_profile():
    user = user_sign_up(
        email="Amelie.Roy@Example.ORG",
        password=PASSWORD,
        display_name="Dr. Amélie Roy",
        timezone="America/St_Johns",
        language="fr",
    )

    user.refresh_from_db()
    assert (user.email, user.display_name, user.timezone, user.language) == (
        "amelie.roy@example.org",
        "Dr. Amélie Roy",
        "America/St_Johns",
        "fr",
    )
    assert user.check_password(PASSWORD) is True


@pytest.mark.django_db
def test_user_sign_up_unknown_field_is_refused():
    with pytest.raises(TypeError, match="unknown profile field 'is_staff'"):
        user_sign_up(
            email="person@example.org", password=PASSWORD, display_name="Sam", is_staff=True
        )

    assert User.objects.count() == 0


@pytest.mark.django_db
def test_user_sign_up_case_variant_duplicate_is_refused():
    UserFactory(email="person@example.org")

    with pytest.raises(ValidationError) as caught:
        user_sign_up(email="PERSON@example.org", password=PASSWORD, display_name="Copy")

    assert list(caught.value.message_dict) == ["email"]
    assert User.objects.count() == 1


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
def test_user_sign_up_lost_race_raises_validation_error_on_email():
    # Another sign-up took the address between the form's check and the insert.
    UserFactory(email="race@example.org")

    with pytest.raises(ValidationError) as caught:
        user_sign_up(email="Race@Example.org", password="x-long-password-1", display_name="R")

    assert list(caught.value.message_dict) == ["email"]
    assert User.objects.filter(email__iexact="race@example.org").count() == 1
