import pytest

from tests.minutes.helpers import meeting_end, run_until_end, world


@pytest.fixture
def ended(django_capture_on_commit_callbacks):
    """The February meeting run and ended; its ending's after-commit callbacks run (the
    draft is written)."""
    w = world()
    run_until_end(w)
    with django_capture_on_commit_callbacks(execute=True):
        meeting_end(w)
    return w
