import pytest

from tests.mail import Inbox, smtp_serving


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server that can refuse recipients."""
    with smtp_serving(settings, Inbox()) as inbox:
        yield inbox
