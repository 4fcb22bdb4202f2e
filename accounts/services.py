"""Every write to accounts and profiles."""

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlencode, urlsafe_base64_encode

from .models import User
from .notifications import email_user_on_commit, link_key
from .tokens import sign_up_token

PROFILE_FIELDS = ("display_name", "background", "interests", "province", "timezone", "language")


def user_sign_up(
    *, email: str, password: str, display_name: str, next_url: str | None = None, **profile
) -> None:
    """Ask for an account. The form has already validated the fields and the password;
    `next_url` (already checked to stay on this site) is where the confirmed person goes.

    Whether the address already has an account is never told to the caller, which sees
    the same outcome either way: one email to the address, sent after commit.
    - A new address gets an inactive account and a link that confirms it.
    - An address whose sign-up was never confirmed gets these details instead of the
      earlier ones, and a new link (the earlier links stop working).
    - An account in use is left exactly as it is; its owner is told that someone tried,
      with links to sign in and to reset the password.

    Raises TypeError for a field that is not a profile field, ValidationError for a value
    the model refuses.
    """
    for name in profile:
        if name not in PROFILE_FIELDS:
            raise TypeError(f"unknown profile field {name!r}")
    email = User.objects.normalize_email(email).lower()
    # Hashed whichever way it goes: the answer takes as long for a known address.
    hashed = make_password(password)
    try:
        with transaction.atomic():
            user = User.objects.select_for_update().filter(email__iexact=email).first()
            if user is None:
                user = User(email=email, is_active=False, email_confirmed=False)
                _pending_fill(user, hashed=hashed, display_name=display_name, **profile)
                _confirmation_send(user, next_url=next_url)
            elif not user.email_confirmed:
                _pending_fill(user, hashed=hashed, display_name=display_name, **profile)
                _confirmation_send(user, next_url=next_url)
            else:
                _existing_tell(user)
    except IntegrityError:
        # A concurrent sign-up made the account between our look-up and our insert.
        with transaction.atomic():
            _existing_tell(User.objects.get(email__iexact=email))


def _pending_fill(user: User, *, hashed: str, display_name: str, **profile) -> None:
    user.display_name = display_name
    for name, value in profile.items():
        setattr(user, name, value)
    user.password = hashed
    # The address's uniqueness is the database's to enforce (see the IntegrityError above).
    user.full_clean(validate_unique=False, validate_constraints=False)
    user.save()


def _confirmation_send(user: User, *, next_url: str | None) -> None:
    token = sign_up_token.make_token(user)
    path = reverse(
        "accounts:sign_up_confirm",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": token},
    )
    if next_url:
        path += "?" + urlencode({"next": next_url})
    email_user_on_commit(
        user=user,
        template="accounts/email/sign_up_confirm",
        context={"link": settings.SITE_URL + path},
        key=link_key(user, token),
        one_time_link=True,
    )


def _existing_tell(user: User) -> None:
    email_user_on_commit(
        user=user,
        template="accounts/email/sign_up_existing",
        context={
            "sign_in_link": settings.SITE_URL + reverse("login"),
            "reset_link": settings.SITE_URL + reverse("password_reset"),
        },
        # Each attempt is its own message.
        key=f"user:{user.pk}:{timezone.now().isoformat()}",
    )


@transaction.atomic
def user_sign_up_confirm(*, user: User) -> User:
    """Make a signed-up account usable. The caller has checked the link's token."""
    user = User.objects.select_for_update().get(pk=user.pk)
    user.is_active = True
    user.email_confirmed = True
    user.save(update_fields=["is_active", "email_confirmed"])
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
