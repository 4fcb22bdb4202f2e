"""Sessions that end close their sockets, on every process, at once.

Signing out ends one session; a changed password or an account made inactive ends all of
the user's others (Django's session hash). The heartbeat checks every socket's session as
well, so a lost event delays the close by at most one heartbeat."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save

from .events import event_send_now, event_send_on_commit, session_event, user_group

# A save that names its fields and none of these changes nobody's sessions (a sign-in
# saves last_login alone).
_SESSION_FIELDS = {"password", "is_active"}


def _ends_sessions(user) -> bool:
    """A new password (AbstractBaseUser.set_password keeps the raw one in `_password`
    until the save is done), or an inactive account."""
    return getattr(user, "_password", None) is not None or not user.is_active


def signed_out(sender, request, user, **kwargs):
    if user is None or request is None:
        return
    key = getattr(request.session, "session_key", None)
    event_send_now(user_group(user.pk), session_event(user_id=user.pk, session_key=key))


def user_saved(sender, instance, created, update_fields=None, **kwargs):
    if created or (update_fields is not None and not _SESSION_FIELDS & set(update_fields)):
        return
    if not _ends_sessions(instance):
        return
    event_send_on_commit(user_group(instance.pk), session_event(user_id=instance.pk))


def connect() -> None:
    user_logged_out.connect(signed_out, dispatch_uid="live.signed_out")
    post_save.connect(user_saved, sender=get_user_model(), dispatch_uid="live.user_saved")
