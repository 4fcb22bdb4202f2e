"""A real SMTP server (aiosmtpd) on a free loopback port for the tests that send email."""

import asyncio
import contextlib
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from tests import services


class Inbox(Message):
    """Keeps what arrives; refuses (550) the addresses in `refused`, as a mail server that
    does not know a mailbox (yet) does."""

    def __init__(self):
        super().__init__()
        self.messages = []
        self.refused: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def handle_message(self, message):
        self.messages.append(message)


class Stalling(Inbox):
    """Takes messages until the `at`-th, which it holds until told (the worker is killed
    meanwhile) and then refuses, as a server does whose client went away mid-message."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at
        self.seen = 0
        self.stalled = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen == self.at:
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


@contextlib.contextmanager
def smtp_serving(settings, inbox: Inbox):
    """Serve `inbox` by real SMTP (aiosmtpd) on a free loopback port; Django sends to it."""
    controller = Controller(inbox, hostname="127.0.0.1", port=services.free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield inbox
    finally:
        controller.stop()
