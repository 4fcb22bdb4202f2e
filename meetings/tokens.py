"""The signed tokens in the yes / no / maybe links of a meeting's invitation.

A token names one meeting, one member and one answer, signed with the site's secret
(`django.core.signing`, its own salt, so no other signed value passes for one). It carries
no time: a link stops working when its meeting starts (as it is then: meetings move), is
cancelled or its member leaves, and those are checked against the database when it is
used (`selectors.answer_link_get`). So the same member, meeting and answer always give
the same token, and an invitation sent again carries the same links. Pure: nothing here
reads the database.
"""

from django.core import signing

from .enums import Response

SALT = "meetings.answer"


def _signer() -> signing.Signer:
    # Made at each use: it reads SECRET_KEY and SECRET_KEY_FALLBACKS (keys rotate).
    return signing.Signer(salt=SALT)


class AnswerTokenError(Exception):
    """A token that is not one of ours (`code` "bad_link"), is for another meeting than the
    address it came with ("other_meeting"), or carries no yes / no / maybe ("bad_answer")."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def answer_token(*, meeting, user, response: str) -> str:
    """The token of `user`'s link answering `response` to `meeting`."""
    if response not in Response.values:
        raise ValueError(f"not an answer: {response!r}")
    return _signer().sign_object({"m": meeting.pk, "u": user.pk, "a": response})


def answer_token_read(token: str, *, meeting_id: int) -> tuple[int, str]:
    """The member's id and the answer a token carries, if it is ours and for `meeting_id`;
    else `AnswerTokenError`."""
    try:
        data = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError):  # ValueError: signed, but not JSON
        raise AnswerTokenError("bad_link") from None
    if not isinstance(data, dict):
        raise AnswerTokenError("bad_link")
    meeting, user, response = data.get("m"), data.get("u"), data.get("a")
    if type(meeting) is not int or type(user) is not int:
        raise AnswerTokenError("bad_link")
    if meeting != meeting_id:
        raise AnswerTokenError("other_meeting")
    if response not in Response.values:
        raise AnswerTokenError("bad_answer")
    return user, response
