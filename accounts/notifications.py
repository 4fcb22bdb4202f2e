"""Emails to people with an account (sign-up links, community decisions), each in its
recipient's language and time zone.

Sent after the transaction commits, so nobody is told about a decision (or sent a link to
an account) that rolled back.
"""

import contextvars
import logging
from contextlib import contextmanager

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

logger = logging.getLogger(__name__)

_suppressed = contextvars.ContextVar("emails_suppressed", default=False)


@contextmanager
def emails_suppressed():
    """Emails asked for inside are not sent (e.g. `seed_demo`, which emails nobody)."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def email_user_on_commit(*, user, template: str, context: dict) -> None:
    """Render `<template>_subject.txt` and `<template>.txt` for `user`; send after commit."""
    if _suppressed.get():
        return

    def send() -> None:
        with translation.override(user.language), timezone.override(user.timezone):
            ctx = {"user": user, "site_url": settings.SITE_URL, **context}
            subject = " ".join(render_to_string(f"{template}_subject.txt", ctx).split())
            body = render_to_string(f"{template}.txt", ctx)
        try:
            send_mail(subject, body, None, [user.email])
        except OSError:
            # The decision stands; a mail server outage must not undo it. Logged for staff
            # (the person can also ask again: sign up again, reset).
            logger.exception("could not send %s to user %s", template, user.pk)

    transaction.on_commit(send)
