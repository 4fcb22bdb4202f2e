import re
from email.header import decode_header, make_header

import pytest
from django.contrib import auth

from accounts.models import User
from accounts.services import PROFILE_FIELDS
from outbox.enums import EmailState
from outbox.models import Email
from tests.factories import PASSWORD, UserFactory

NEW_PASSWORD = "a-brand-new-passphrase"


def sign_up_data(**overrides):
    data = {
        "email": "Amelie.Roy@Example.ORG",
        "display_name": "Dr. Amélie Roy",
        "timezone": "America/St_Johns",
        "language": "fr",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(overrides)
    return data


def profile_data(**overrides):
    data = {
        "display_name": "Dr. Sam Okafor",
        "background": "Family physician, Kamloops",
        "interests": "Rural care, chronic pain",
        "province": "BC",
        "timezone": "America/Vancouver",
        "language": "en",
    }
    data.update(overrides)
    return data


def stored_profile(user):
    return User.objects.filter(pk=user.pk).values(*PROFILE_FIELDS).get()


# Sign up


def _sign_up(client, data=None, **kwargs):
    """POST the sign-up form (its email goes out after commit: capture the callbacks)."""
    return client.post("/accounts/signup/", data or sign_up_data(), **kwargs)


def _visible_text(response) -> str:
    main = re.search(r"<main[^>]*>(.*)</main>", response.content.decode(), re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", main).split())


def _page_templates(response) -> list[str]:
    """The templates of the page itself: the emails queued in the request render there too
    (into the outbox), and are checked through what arrives."""
    return [t.name for t in response.templates if "/email/" not in t.name]


def _link(message) -> str:
    """The one site link in an email, as a path."""
    [url] = re.findall(r"https?://\S+/accounts/signup/confirm/\S+", message.body)
    return re.sub(r"^https?://[^/]+", "", url)


@pytest.mark.django_db
def test_sign_up_new_address_makes_an_unconfirmed_account_and_emails_a_link(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _sign_up(client)

    assert response.status_code == 200
    assert _page_templates(response)[0] == "accounts/sign_up_sent.html"
    assert "We have sent a message to amelie.roy@example.org." in _visible_text(response)
    user = User.objects.get()
    assert (user.email, user.display_name, user.timezone, user.language) == (
        "amelie.roy@example.org",
        "Dr. Amélie Roy",
        "America/St_Johns",
        "fr",
    )
    assert (user.is_active, user.email_confirmed) == (False, False)
    assert user.check_password(PASSWORD) is True
    assert auth.get_user(client).is_authenticated is False
    [message] = mailoutbox
    assert message.to == ["amelie.roy@example.org"]
    # In the language chosen on the form.
    assert message.subject == "Terminez la création de votre compte"
    assert _link(message).startswith("/accounts/signup/confirm/")
    # Sent: the outbox keeps the record, not the link.
    [row] = Email.objects.filter(kind="accounts/email/sign_up_confirm")
    assert (row.state, row.body, row.html) == (EmailState.SENT, "", "")


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["amelie.roy@example.org", "AMELIE.ROY@EXAMPLE.ORG"])
def test_sign_up_existing_address_answers_as_a_new_one_and_tells_the_owner(
    client, mailoutbox, django_capture_on_commit_callbacks, email
):
    owner = UserFactory(email="amelie.roy@example.org", display_name="First", language="en")
    before = User.objects.filter(pk=owner.pk).values().get()
    new_client = type(client)()

    with django_capture_on_commit_callbacks(execute=True):
        existing = _sign_up(client, sign_up_data(email=email, display_name="Copy"))
    with django_capture_on_commit_callbacks(execute=True):
        new = _sign_up(new_client, sign_up_data(email="someone.new@example.org"))

    assert existing.status_code == new.status_code == 200
    assert _page_templates(existing) == _page_templates(new)
    assert _visible_text(existing).replace("amelie.roy@example.org", "ADDRESS") == _visible_text(
        new
    ).replace("someone.new@example.org", "ADDRESS")
    # Nothing about the existing account changed, and nobody is signed in.
    assert User.objects.filter(pk=owner.pk).values().get() == before
    assert auth.get_user(client).is_authenticated is False
    owner_mail = mailoutbox[0]
    assert owner_mail.to == ["amelie.roy@example.org"]
    assert owner_mail.subject == "Someone tried to create an account with your address"
    assert "Hello First," in owner_mail.body
    assert "You already have an account, and nothing about it has changed." in owner_mail.body
    assert "/accounts/login/" in owner_mail.body
    assert "/accounts/password_reset/" in owner_mail.body
    assert "/accounts/signup/confirm/" not in owner_mail.body
    assert [m.to for m in mailoutbox] == [["amelie.roy@example.org"], ["someone.new@example.org"]]


@pytest.mark.django_db
def test_sign_up_existing_address_email_speaks_the_owners_language(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    UserFactory(email="amelie.roy@example.org", language="fr")

    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client, sign_up_data(language="en"), HTTP_ACCEPT_LANGUAGE="en")

    [message] = mailoutbox
    assert message.subject == "Quelqu\u2019un a tenté de créer un compte avec votre adresse"


@pytest.mark.django_db
def test_sign_up_again_before_confirming_replaces_the_details_and_the_link(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client, sign_up_data(display_name="First try"))
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(
            client,
            sign_up_data(display_name="Second try", password1=NEW_PASSWORD, password2=NEW_PASSWORD),
        )

    first, second = mailoutbox
    user = User.objects.get()
    assert (user.display_name, user.is_active) == ("Second try", False)
    assert user.check_password(NEW_PASSWORD) is True
    assert client.post(_link(first)).status_code == 400
    assert client.post(_link(second)).status_code == 302
    user.refresh_from_db()
    assert (user.is_active, user.email_confirmed) == (True, True)


@pytest.mark.django_db
def test_sign_up_link_shows_a_button_and_a_get_confirms_nothing(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client)

    response = client.get(_link(mailoutbox[0]))

    assert response.status_code == 200
    assert "Finish creating my account" in response.content.decode()
    assert User.objects.get().is_active is False
    assert auth.get_user(client).is_authenticated is False


@pytest.mark.django_db
def test_sign_up_link_posted_confirms_and_signs_in(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client)

    response = client.post(_link(mailoutbox[0]), follow=True)

    user = User.objects.get()
    assert response.redirect_chain == [("/accounts/profile/", 302)]
    assert (user.is_active, user.email_confirmed) == (True, True)
    assert auth.get_user(client).pk == user.pk
    assert "Bienvenue! Votre compte est prêt." in response.content.decode()


@pytest.mark.django_db
def test_sign_up_link_works_once(client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client)
    link = _link(mailoutbox[0])
    client.post(link)
    client.logout()

    response = client.post(link)

    assert response.status_code == 400
    assert auth.get_user(client).is_authenticated is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/accounts/signup/confirm/MQ/not-a-token/",
        "/accounts/signup/confirm/!!!/abc-def/",
        "/accounts/signup/confirm/OTk5OTk/abc-def/",
    ],
)
def test_sign_up_link_wrong_changes_nothing(client, path):
    UserFactory(is_active=False, email_confirmed=False)

    response = client.post(path)

    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()
    assert User.objects.get().is_active is False


@pytest.mark.django_db
def test_sign_up_unconfirmed_account_cannot_sign_in(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client)

    response = client.post(
        "/accounts/login/", {"username": "amelie.roy@example.org", "password": PASSWORD}
    )

    assert response.status_code == 200
    assert auth.get_user(client).is_authenticated is False


@pytest.mark.django_db
def test_sign_up_follows_a_local_next_once_confirmed(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client, query_params={"next": "/c/rural-care/"})

    link = _link(mailoutbox[0])
    response = client.post(link)

    assert link.endswith("?next=%2Fc%2Frural-care%2F")
    assert response.status_code == 302
    assert response["Location"] == "/c/rural-care/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url", ["https://evil.example/phish", "//evil.example/phish", "javascript:alert(1)"]
)
def test_sign_up_ignores_an_offsite_next(
    client, mailoutbox, django_capture_on_commit_callbacks, next_url
):
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client, query_params={"next": next_url})

    link = _link(mailoutbox[0])
    response = client.post(link + ("&" if "?" in link else "?") + "next=" + next_url)

    assert "next" not in _link(mailoutbox[0])
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"


@pytest.mark.django_db
def test_sign_up_sign_in_link_keeps_the_next_address(client):
    response = client.get("/accounts/signup/", query_params={"next": "/c/rural-care/"})

    assert '<a href="/accounts/login/?next=/c/rural-care/">Sign in</a>' in response.content.decode()


@pytest.mark.django_db
def test_sign_up_sign_in_link_without_next_is_plain(client):
    response = client.get("/accounts/signup/")

    assert '<a href="/accounts/login/">Sign in</a>' in response.content.decode()


@pytest.mark.django_db
def test_sign_up_signed_in_person_goes_home(client):
    user = UserFactory()
    client.force_login(user)

    response = client.get("/accounts/signup/")

    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_sign_up_language_starts_at_the_page_language(client):
    response = client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 200
    assert response.context["form"]["language"].value() == "fr"


@pytest.mark.django_db
def test_sign_up_language_starts_at_the_chosen_site_language(client):
    client.cookies["django_language"] = "fr"

    response = client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.context["form"]["language"].value() == "fr"


@pytest.mark.django_db
def test_sign_up_without_browser_hints_starts_at_english_and_toronto(client):
    response = client.get("/accounts/signup/")

    form = response.context["form"]
    assert (form["language"].value(), form["timezone"].value()) == ("en", "America/Toronto")


@pytest.mark.django_db
def test_sign_up_time_zone_menu_is_marked_for_the_browser_zone_only_when_blank(client):
    blank = client.get("/accounts/signup/")
    refused = client.post("/accounts/signup/", sign_up_data(password2="something-else-entirely"))

    assert blank.context["form"].fields["timezone"].widget.attrs == {"data-browser-zone": ""}
    assert "data-browser-zone" not in refused.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"display_name": "   "}, "display_name", "This field is required."),
        (
            {"display_name": "x" * 81},
            "display_name",
            "Ensure this value has at most 80 characters (it has 81).",
        ),
        (
            {"timezone": "Mars/Olympus"},
            "timezone",
            "“Mars/Olympus” is not a time zone we know. Choose one from the list.",
        ),
        (
            {"language": "de"},
            "language",
            "Select a valid choice. de is not one of the available choices.",
        ),
        (
            {"password2": "correct-horse-battery-staple"},
            "password2",
            "The two password fields didn\u2019t match.",
        ),
        (
            {"password1": "password", "password2": "password"},
            "password2",
            "This password is too common.",
        ),
    ],
)
def test_sign_up_bad_input_is_refused_with_a_clear_message(client, overrides, field, message):
    response = client.post("/accounts/signup/", sign_up_data(**overrides))

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message in response.content.decode()
    assert User.objects.count() == 0
    assert auth.get_user(client).is_authenticated is False


@pytest.mark.django_db
def test_sign_up_empty_fields_each_say_they_are_required(client):
    empty = dict.fromkeys(sign_up_data(), "")

    response = client.post("/accounts/signup/", empty)

    assert response.status_code == 400
    assert sorted(response.context["form"].errors) == sorted(empty)
    assert response.content.decode().count("This field is required.") == 6
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_sign_up_post_without_any_field_is_refused(client):
    response = client.post("/accounts/signup/", {})

    assert response.status_code == 400
    assert response.content.decode().count("This field is required.") == 6
    assert User.objects.count() == 0


# Sign in and out


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["person@example.org", "Person@EXAMPLE.org"])
def test_login_with_email_any_case_signs_in(client, typed):
    user = UserFactory(email="person@example.org")

    response = client.post("/accounts/login/", {"username": typed, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert auth.get_user(client).pk == user.pk


@pytest.mark.django_db
def test_login_follows_a_local_next(client):
    UserFactory(email="person@example.org")

    response = client.post(
        "/accounts/login/?next=/accounts/profile/",
        {"username": "person@example.org", "password": PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"


@pytest.mark.django_db
def test_login_wrong_password_shows_an_error_and_does_not_sign_in(client):
    UserFactory(email="person@example.org")

    response = client.post(
        "/accounts/login/", {"username": "person@example.org", "password": "wrong-password"}
    )

    assert response.status_code == 200
    assert (
        "Please enter a correct email address and password. Note that both fields may be "
        "case-sensitive." in response.content.decode()
    )
    assert auth.get_user(client).is_authenticated is False


@pytest.mark.django_db
def test_login_inactive_user_is_not_signed_in(client):
    UserFactory(email="person@example.org", is_active=False)

    response = client.post(
        "/accounts/login/", {"username": "person@example.org", "password": PASSWORD}
    )

    assert response.status_code == 200
    assert auth.get_user(client).is_authenticated is False


@pytest.mark.django_db
def test_logout_by_post_signs_out(client):
    client.force_login(UserFactory())

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert auth.get_user(client).is_authenticated is False


@pytest.mark.django_db
def test_logout_by_get_is_refused_and_keeps_the_session(client):
    user = UserFactory()
    client.force_login(user)

    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert auth.get_user(client).pk == user.pk


@pytest.mark.django_db
def test_header_sign_out_form_posts_to_logout(client):
    client.force_login(UserFactory())

    response = client.get("/")

    assert '<form method="post" action="/accounts/logout/">' in response.content.decode()


@pytest.mark.django_db
def test_password_change_keeps_the_person_signed_in(client):
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_change/done/"
    assert auth.get_user(client).pk == user.pk
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) is True


@pytest.mark.django_db
def test_password_change_wrong_old_password_changes_nothing(client):
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        "/accounts/password_change/",
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert "Your old password was entered incorrectly." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD) is True


# Password reset, through a real SMTP server


def email_body(message) -> str:
    return message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")


def reset_link_path(message) -> str:
    body = email_body(message)
    links = re.findall(r"http://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)", body)
    assert len(links) == 1, body
    return links[0]


@pytest.mark.django_db
def test_password_reset_by_email_end_to_end(
    client, smtp_server, django_capture_on_commit_callbacks
):
    user = UserFactory(email="person@example.org", display_name="Dr. Lee")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/password_reset/", {"email": "Person@Example.org"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "person@example.org"
    assert message["Subject"] == "Choose a new password"
    assert email_body(message).splitlines()[0] == "Hello Dr. Lee,"

    link = reset_link_path(message)
    # Sent: the outbox keeps the record, not the link.
    [row] = Email.objects.filter(kind="accounts/password_reset")
    assert (row.state, row.body, row.html) == (EmailState.SENT, "", "")
    response = client.get(link)
    assert response.status_code == 302
    set_password_url = response["Location"]
    assert set_password_url.endswith("/set-password/")
    response = client.get(set_password_url)
    assert response.status_code == 200
    assert response.context["validlink"] is True

    response = client.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reset/done/"

    client.logout()
    assert client.login(username="person@example.org", password=PASSWORD) is False
    assert client.login(username="person@example.org", password=NEW_PASSWORD) is True
    assert auth.get_user(client).pk == user.pk


@pytest.mark.django_db
def test_password_reset_email_in_the_accounts_language(
    client, smtp_server, django_capture_on_commit_callbacks
):
    UserFactory(email="personne@example.org", display_name="Dre Roy", language="fr")

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/accounts/password_reset/",
            {"email": "personne@example.org"},
            HTTP_ACCEPT_LANGUAGE="en",
        )

    message = smtp_server.messages[0]
    assert str(make_header(decode_header(message["Subject"]))) == "Choisir un nouveau mot de passe"
    assert email_body(message).splitlines()[0] == "Bonjour Dre Roy,"


@pytest.mark.django_db
def test_password_reset_link_works_only_once(
    client, smtp_server, django_capture_on_commit_callbacks
):
    UserFactory(email="person@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/password_reset/", {"email": "person@example.org"})
    link = reset_link_path(smtp_server.messages[0])
    set_password_url = client.get(link)["Location"]
    client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    other = type(client)()

    response = other.get(link, follow=True)

    assert response.status_code == 200
    assert response.context["validlink"] is False
    assert "This link is not valid any more" in response.content.decode()


@pytest.mark.django_db
def test_password_reset_unknown_email_sends_nothing_and_looks_the_same(
    client, smtp_server, django_capture_on_commit_callbacks
):
    UserFactory(email="person@example.org")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/password_reset/", {"email": "nobody@example.org"}, follow=True
        )

    assert response.redirect_chain == [("/accounts/password_reset/done/", 302)]
    assert "<h1>Check your email</h1>" in response.content.decode()
    assert smtp_server.messages == []


# Profile


@pytest.mark.django_db
def test_profile_anonymous_is_sent_to_sign_in(client):
    response = client.get("/accounts/profile/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/profile/"


@pytest.mark.django_db
def test_profile_shows_the_stored_values(client):
    user = UserFactory(display_name="Dr. Lee", background="Nurse practitioner")
    client.force_login(user)

    response = client.get("/accounts/profile/")

    assert response.status_code == 200
    form = response.context["form"]
    assert (form["display_name"].value(), form["background"].value()) == (
        "Dr. Lee",
        "Nurse practitioner",
    )


@pytest.mark.django_db
def test_profile_update_saves_every_field(client):
    user = UserFactory()
    client.force_login(user)

    response = client.post("/accounts/profile/", profile_data())

    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    assert stored_profile(user) == profile_data()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"display_name": ""}, "display_name", "This field is required."),
        (
            {"background": "b" * 201},
            "background",
            "Ensure this value has at most 200 characters (it has 201).",
        ),
        (
            {"timezone": "Mars/Olympus"},
            "timezone",
            "“Mars/Olympus” is not a time zone we know. Choose one from the list.",
        ),
        (
            {"province": "XX"},
            "province",
            "Select a valid choice. XX is not one of the available choices.",
        ),
    ],
)
def test_profile_bad_input_is_refused_and_changes_nothing(client, overrides, field, message):
    user = UserFactory(display_name="Dr. Lee", background="Nurse", province="ON")
    client.force_login(user)
    before = stored_profile(user)

    response = client.post("/accounts/profile/", profile_data(**overrides))

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message in response.content.decode()
    user.refresh_from_db()
    assert stored_profile(user) == before
    assert user.display_name == "Dr. Lee"


@pytest.mark.django_db
def test_profile_bad_input_page_header_shows_the_stored_name(client):
    user = UserFactory(display_name="Dr. Lee")
    client.force_login(user)

    response = client.post(
        "/accounts/profile/", profile_data(display_name="New Name", province="XX")
    )

    assert response.status_code == 400
    assert '<a href="/accounts/profile/">Dr. Lee</a>' in response.content.decode()


@pytest.mark.django_db
def test_profile_post_without_any_field_is_refused(client):
    user = UserFactory(display_name="Dr. Lee")
    client.force_login(user)
    before = stored_profile(user)

    response = client.post("/accounts/profile/", {})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert stored_profile(user) == before


# Language switch


@pytest.mark.django_db
def test_set_language_signed_in_saves_the_preference(client):
    user = UserFactory(language="en")
    client.force_login(user)

    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/accounts/profile/"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    user.refresh_from_db()
    assert user.language == "fr"


@pytest.mark.django_db
def test_set_language_unknown_language_changes_nothing(client):
    user = UserFactory(language="fr")
    client.force_login(user)

    client.post("/i18n/setlang/", {"language": "de", "next": "/"})

    user.refresh_from_db()
    assert user.language == "fr"


@pytest.mark.django_db
def test_set_language_anonymous_sets_the_cookie(client):
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})

    assert response.status_code == 302
    assert response.cookies["django_language"].value == "fr"
    assert '<html lang="fr">' in client.get("/").content.decode()


@pytest.mark.django_db
def test_set_language_offsite_next_stays_on_the_site(client):
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == "/"
