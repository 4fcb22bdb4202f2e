"""Emails to people with an account (sign-up links, community decisions), each in its
recipient's language and time zone.

Queued in the outbox inside the caller's transaction and sent by the background job after
it commits, so nobody is told about a decision (or sent a link to an account) that rolled
back, and a mail server outage delays a message instead of losing it.
"""

import contextvars
import hashlib
from contextlib import contextmanager

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from outbox.services import email_enqueue

_suppressed = contextvars.ContextVar("emails_suppressed", default=False)


@contextmanager
def emails_suppressed():
    """Emails asked for inside are not sent (e.g. `seed_demo`, which emails nobody)."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def email_queue(
    *, user, kind: str, key: str, version: str | int, subject: str, body: str, **parts
) -> None:
    """Queue one message already rendered for `user` (`parts`: html, alternatives) in the
    outbox, unless emails are suppressed. Inside the caller's transaction."""
    if _suppressed.get():
        return
    email_enqueue(
        kind=kind,
        key=key,
        version=version,
        recipient=user,
        to=user.email,
        subject=subject,
        body=body,
        **parts,
    )


def email_user_on_commit(
    *,
    user,
    template: str,
    context: dict,
    key: str | None = None,
    version: str | int = "1",
    html: bool = False,
    one_time_link: bool = False,
) -> None:
    """Render `<template>_subject.txt` and `<template>.txt` (and `<template>.html` if
    `html`) for `user` in their language and zone, and queue it in the outbox (kind: the
    template). Asking again with the same `key` and `version` queues nothing more; without
    a key, the user's address stands for the object (one such message per user). A
    message with a `one_time_link` keeps no text once sent. Inside the caller's
    transaction: nothing is sent if it rolls back."""
    if _suppressed.get():
        return
    with translation.override(user.language), timezone.override(user.timezone):
        ctx = {"user": user, "site_url": settings.SITE_URL, **context}
        subject = " ".join(render_to_string(f"{template}_subject.txt", ctx).split())
        body = render_to_string(f"{template}.txt", ctx)
        parts = {"html": render_to_string(f"{template}.html", ctx)} if html else {}
    email_queue(
        user=user,
        kind=template,
        key=key if key is not None else f"user:{user.pk}",
        version=version,
        subject=subject,
        body=body,
        cleared_when_sent=one_time_link,
        **parts,
    )


def link_key(user, token: str) -> str:
    """An outbox key for a message carrying a one-time link: each link its own message,
    without storing the token itself."""
    return f"user:{user.pk}:{hashlib.sha256(token.encode()).hexdigest()[:16]}"
