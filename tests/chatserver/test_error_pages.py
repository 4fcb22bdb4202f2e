import pytest
from django.test import Client


@pytest.mark.django_db
def test_unknown_page_is_404_with_our_page(client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.mark.django_db
def test_unknown_page_in_french(client):
    response = client.get("/no/such/page/", HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 404
    assert "Page introuvable" in response.content.decode()


@pytest.mark.django_db
def test_form_without_csrf_token_explains_and_changes_nothing(django_user_model):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.org",
            "display_name": "New",
            "timezone": "America/Toronto",
            "language": "en",
            "password1": "x-long-password-1",
            "password2": "x-long-password-1",
        },
    )

    assert response.status_code == 403
    assert "The form had expired" in response.content.decode()
    assert django_user_model.objects.count() == 0
