"""Every write to accounts and profiles."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from .models import User

PROFILE_FIELDS = ("display_name", "background", "interests", "province", "timezone", "language")


DUPLICATE_EMAIL = _(
    "An account with this email address already exists. Sign in, or reset your password."
)


def user_sign_up(*, email: str, password: str, display_name: str, **profile) -> User:
    """Create an account. The form has already validated the fields and the password.

    Raises ValidationError on the email when another sign-up took the address meanwhile.
    """
    try:
        with transaction.atomic():
            return _user_create(
                email=email, password=password, display_name=display_name, **profile
            )
    except IntegrityError:
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError({"email": DUPLICATE_EMAIL}, code="duplicate_email") from None
        raise


def _user_create(*, email: str, password: str, display_name: str, **profile) -> User:
    user = User(email=User.objects.normalize_email(email).lower(), display_name=display_name)
    for name, value in profile.items():
        if name not in PROFILE_FIELDS:
            raise TypeError(f"unknown profile field {name!r}")
        setattr(user, name, value)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def profile_update(*, user: User, **fields) -> User:
    for name, value in fields.items():
        if name not in PROFILE_FIELDS:
            raise TypeError(f"unknown profile field {name!r}")
        setattr(user, name, value)
    user.full_clean()
    user.save(update_fields=list(fields))
    return user
