"""Reads about accounts."""

from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from .models import User
from .tokens import sign_up_token


def user_for_sign_up_link(*, uidb64: str, token: str) -> User | None:
    """The account a sign-up link confirms, or None when the link is wrong, expired,
    superseded by a later sign-up, or already used."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, email_confirmed=False).first()
    if user is None or not sign_up_token.check_token(user, token):
        return None
    return user
