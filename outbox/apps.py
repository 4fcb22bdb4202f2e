from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = _("Outbox")

    def ready(self) -> None:
        from . import services, tasks

        # services.py cannot import tasks.py (which calls the services): the task that
        # sends what is due is plugged in here.
        services.waker_set(tasks.outbox_send.enqueue)
