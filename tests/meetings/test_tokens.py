"""The answer links' signed tokens: what they carry, and every way one is refused."""

from types import SimpleNamespace

import pytest
from django.core import signing

from meetings.enums import Response
from meetings.tokens import SALT, AnswerTokenError, answer_token, answer_token_read

MEETING = SimpleNamespace(pk=42)
USER = SimpleNamespace(pk=7)


def _signed(value) -> str:
    return signing.Signer(salt=SALT).sign_object(value)


def _code(token: str, meeting_id: int = 42) -> str:
    with pytest.raises(AnswerTokenError) as raised:
        answer_token_read(token, meeting_id=meeting_id)
    return raised.value.code


@pytest.mark.parametrize("response", Response.values)
def test_answer_token_read_gives_back_the_member_and_the_answer(response):
    token = answer_token(meeting=MEETING, user=USER, response=response)

    assert answer_token_read(token, meeting_id=42) == (7, response)


def test_answer_token_differs_by_answer_member_and_meeting():
    tokens = {
        answer_token(meeting=meeting, user=user, response=response)
        for meeting in (MEETING, SimpleNamespace(pk=43))
        for user in (USER, SimpleNamespace(pk=8))
        for response in Response.values
    }

    assert len(tokens) == 12


def test_answer_token_is_safe_in_a_path():
    token = answer_token(meeting=MEETING, user=USER, response=Response.MAYBE)

    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:")


def test_answer_token_is_the_same_each_time():
    first = answer_token(meeting=MEETING, user=USER, response=Response.NO)

    assert answer_token(meeting=MEETING, user=USER, response=Response.NO) == first


def test_answer_token_refuses_to_sign_a_bad_answer():
    with pytest.raises(ValueError):
        answer_token(meeting=MEETING, user=USER, response="perhaps")


def test_answer_token_for_another_meeting_is_refused():
    token = answer_token(meeting=MEETING, user=USER, response=Response.YES)

    assert _code(token, meeting_id=43) == "other_meeting"


def test_answer_token_changed_anywhere_is_refused():
    token = answer_token(meeting=MEETING, user=USER, response=Response.YES)

    for i in range(len(token)):
        changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        assert _code(changed) == "bad_link", i


@pytest.mark.parametrize(
    "token",
    [
        "",
        "nonsense",
        signing.dumps({"m": 42, "u": 7, "a": "yes"}),  # no salt: another purpose's value
        signing.Signer(salt="accounts.other").sign_object({"m": 42, "u": 7, "a": "yes"}),
        signing.dumps({"m": 42, "u": 7, "a": "yes"}, salt=SALT),  # with a time: not ours
        signing.Signer(salt=SALT).sign("not json"),
        _signed([42, 7, "yes"]),
        _signed({"m": "42", "u": 7, "a": "yes"}),
        _signed({"m": 42, "u": True, "a": "yes"}),
        _signed({"m": 42, "a": "yes"}),
    ],
)
def test_answer_token_not_ours_is_refused(token):
    assert _code(token) == "bad_link"


@pytest.mark.parametrize("answer", ["perhaps", "", None, "YES"])
def test_answer_token_signed_with_a_bad_answer_is_refused(answer):
    token = _signed({"m": 42, "u": 7, "a": answer})

    assert _code(token) == "bad_answer"


def test_answer_token_signed_with_a_previous_secret_still_works(settings):
    token = answer_token(meeting=MEETING, user=USER, response=Response.YES)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "another-secret-" + "x" * 50

    assert answer_token_read(token, meeting_id=42) == (7, Response.YES)


def test_answer_token_signed_with_another_secret_is_refused(settings):
    token = answer_token(meeting=MEETING, user=USER, response=Response.YES)
    settings.SECRET_KEY = "another-secret-" + "x" * 50

    assert _code(token) == "bad_link"
