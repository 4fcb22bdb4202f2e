from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = _("Chat rooms")

    def ready(self):
        from communities.signals import membership_ended

        from .receivers import membership_ended_kick

        membership_ended.connect(membership_ended_kick, dispatch_uid="rooms.kick")
