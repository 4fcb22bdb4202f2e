from django.apps import AppConfig


class ChatserverConfig(AppConfig):
    name = "chatserver"
    verbose_name = "Chat server"
