from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LiveConfig(AppConfig):
    """The real-time layer under every app's socket (rooms, the live agenda)."""

    name = "live"
    verbose_name = _("Real-time layer")

    def ready(self):
        from . import receivers

        receivers.connect()
