from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatserverConfig(AppConfig):
    name = "chatserver"
    verbose_name = _("Chat server")
