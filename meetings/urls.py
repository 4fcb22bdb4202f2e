from django.urls import path

from . import views

app_name = "meetings"

urlpatterns = [
    path("<slug:slug>/meetings/", views.meeting_list, name="list"),
    path("<slug:slug>/meetings/<int:meeting_id>/", views.meeting_detail, name="detail"),
    path("<slug:slug>/meetings/<int:meeting_id>/handover/", views.handover, name="handover"),
    path("<slug:slug>/rota/", views.rota, name="rota"),
]
