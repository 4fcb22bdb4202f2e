from django.urls import path

from . import views

app_name = "meetings"

MEETING = "<slug:slug>/meetings/<int:meeting_id>/"

urlpatterns = [
    path("<slug:slug>/meetings/", views.meeting_list, name="list"),
    path("<slug:slug>/meetings/new/", views.meeting_create, name="create"),
    path(MEETING, views.meeting_detail, name="detail"),
    path(f"{MEETING}answer/", views.meeting_answer, name="answer"),
    path(f"{MEETING}answer/<str:token>/", views.answer_link, name="answer_link"),
    path(f"{MEETING}edit/", views.meeting_edit, name="edit"),
    path(f"{MEETING}cancel/", views.meeting_cancel, name="cancel"),
    path(f"{MEETING}invitations/send/", views.invitations_send, name="invitations_send"),
    path(f"{MEETING}emails/retry/", views.emails_retry, name="emails_retry"),
    path(f"{MEETING}chair/confirm/", views.chair_confirm, name="chair_confirm"),
    path(f"{MEETING}chair/override/", views.chair_override, name="chair_override"),
    path(f"{MEETING}attendance/", views.attendance_save, name="attendance"),
    path(f"{MEETING}handover/", views.handover, name="handover"),
    path("<slug:slug>/series/", views.series_list, name="series_list"),
    path("<slug:slug>/series/new/", views.series_create, name="series_create"),
    path("<slug:slug>/series/<int:series_id>/", views.series_edit, name="series_edit"),
    path("<slug:slug>/rota/", views.rota, name="rota"),
    path("<slug:slug>/rota/willing/", views.rota_willing, name="rota_willing"),
    path("<slug:slug>/rota/swaps/", views.swap_propose, name="swap_propose"),
    *[
        path(
            f"<slug:slug>/rota/swaps/<int:swap_id>/{decision}/",
            views.swap_decide,
            {"decision": decision},
            name=f"swap_{decision}",
        )
        for decision in ("accept", "decline", "withdraw")
    ],
    # Not "calendar/" alone: that is also the address of a community called "calendar".
    path("calendar/subscriptions/", views.calendar_subscriptions, name="calendar_subscriptions"),
    path(
        "calendar/subscriptions/<int:feed_id>/reset/", views.calendar_reset, name="calendar_reset"
    ),
    path("calendar/<slug:token>.ics", views.calendar_feed, name="calendar_feed"),
    path(f"{MEETING}calendar.ics", views.meeting_ics, name="calendar_download"),
]
