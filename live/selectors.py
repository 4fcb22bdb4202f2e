"""Reads the layer needs: whether the sessions behind sockets still stand."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils import timezone
from django.utils.crypto import constant_time_compare

_DATABASE_ENGINES = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}


def _session_data(keys: set[str]) -> dict[str, dict]:
    """The data of each session among `keys` that exists and has not expired."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if settings.SESSION_ENGINE in _DATABASE_ENGINES:
        # One query for every socket of the process (the heartbeat asks for them all).
        model = store.get_model_class()
        rows = model.objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
        return {row.session_key: store().decode(row.session_data) for row in rows}
    found = {}
    for key in keys:
        session = store(session_key=key)
        if session.exists(key):
            found[key] = session.load()
    return found


def _hash_verifies(user, session_hash: str | None) -> bool:
    """As Django's `get_user`: the session's hash is the user's (password unchanged)."""
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


def sessions_ended(*, sockets: list[tuple[str, int, str | None]]) -> set[str]:
    """Of `sockets` (connection id, user id, session key), those whose session no longer
    signs that user in: signed out or expired, another user's, the password changed since
    (Django's session hash), or the account made inactive. Two queries in all."""
    keys = {key for _cid, _uid, key in sockets if key}
    data = _session_data(keys) if keys else {}
    users = {
        user.pk: user
        for user in get_user_model()._default_manager.filter(
            pk__in={uid for _cid, uid, _key in sockets}, is_active=True
        )
    }
    ended = set()
    for connection_id, user_id, key in sockets:
        session = data.get(key) if key else None
        user = users.get(user_id)
        if (
            session is None
            or user is None
            or str(session.get(SESSION_KEY)) != str(user_id)
            or session.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS
            or not _hash_verifies(user, session.get(HASH_SESSION_KEY))
        ):
            ended.add(connection_id)
    return ended
