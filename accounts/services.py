"""Every write to accounts and profiles."""

from django.db import transaction

from .models import User

PROFILE_FIELDS = ("display_name", "background", "interests", "province", "timezone", "language")


@transaction.atomic
def user_sign_up(*, email: str, password: str, display_name: str, **profile) -> User:
    """Create an account. The form has already validated the fields and the password."""
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
