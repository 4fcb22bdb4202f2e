from django.apps import AppConfig


class AgendasConfig(AppConfig):
    name = "agendas"
