import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.models import User
from tests.factories import PASSWORD, UserFactory


@pytest.mark.django_db
def test_create_user_lowercases_the_whole_email():
    user = User.objects.create_user("Amelie.Roy@Example.ORG", PASSWORD)

    user.refresh_from_db()
    assert user.email == "amelie.roy@example.org"


@pytest.mark.django_db
def test_create_user_is_an_ordinary_member_with_a_usable_password():
    user = User.objects.create_user("person@example.org", PASSWORD, display_name="Dr. Lee")

    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)
    assert user.display_name == "Dr. Lee"
    assert user.check_password(PASSWORD) is True


@pytest.mark.django_db
def test_create_user_without_display_name_uses_the_email_local_part():
    user = User.objects.create_user("sam.okafor@example.org", PASSWORD)

    assert user.display_name == "sam.okafor"


@pytest.mark.django_db
def test_create_user_without_email_is_refused():
    with pytest.raises(ValueError, match=r"^An email address is required\.$"):
        User.objects.create_user("", PASSWORD)

    assert User.objects.count() == 0


@pytest.mark.django_db
def test_create_superuser_sets_staff_and_superuser():
    user = User.objects.create_superuser("Boss@Example.org", PASSWORD)

    user.refresh_from_db()
    assert (user.email, user.is_staff, user.is_superuser) == ("boss@example.org", True, True)


@pytest.mark.django_db
def test_email_differing_only_in_case_violates_the_database_constraint():
    User.objects.create_user("person@example.org", PASSWORD)

    # Saved directly, skipping the manager's normalisation: only the database stops it.
    with pytest.raises(IntegrityError):
        User(email="Person@Example.org", display_name="Copy").save()


@pytest.mark.django_db
def test_get_by_natural_key_ignores_case():
    user = UserFactory(email="person@example.org")

    assert User.objects.get_by_natural_key("PERSON@example.ORG") == user


@pytest.mark.django_db
def test_full_clean_lowercases_email_and_reports_a_case_variant_duplicate():
    UserFactory(email="person@example.org")
    copy = User(email="Person@Example.org", display_name="Copy", password="x")

    with pytest.raises(ValidationError) as caught:
        copy.full_clean()

    assert copy.email == "person@example.org"
    assert list(caught.value.message_dict) == ["email"]


@pytest.mark.django_db
def test_full_clean_refuses_an_unknown_time_zone():
    user = UserFactory.build(timezone="Mars/Olympus", password="x")

    with pytest.raises(ValidationError) as caught:
        user.full_clean()

    assert caught.value.message_dict == {
        "timezone": ["“Mars/Olympus” is not a time zone we know. Choose one from the list."]
    }


def test_str_is_the_display_name_else_the_email():
    assert str(User(email="person@example.org", display_name="Dr. Lee")) == "Dr. Lee"
    assert str(User(email="person@example.org", display_name="")) == "person@example.org"
