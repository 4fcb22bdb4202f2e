from django.urls import path

from . import views

app_name = "rooms"

urlpatterns = [
    path("<slug:slug>/room/", views.room, name="room"),
    path("<slug:slug>/room/<int:room_id>/", views.room_detail, name="room_detail"),
    path("<slug:slug>/moderation/", views.moderation, name="moderation"),
    *[
        path(
            f"<slug:slug>/moderation/<int:pk>/{action}/",
            views.moderation_act,
            {"action": action},
            name=f"moderation_{action}",
        )
        for action in ("hide", "restore", "dismiss")
    ],
]
