from django.urls import path

from . import views

app_name = "communities"

urlpatterns = [
    path("new/", views.community_create, name="create"),
    path("<slug:slug>/", views.community_detail, name="detail"),
    path("<slug:slug>/edit/", views.community_edit, name="edit"),
    path("<slug:slug>/join/", views.community_join, name="join"),
    path("<slug:slug>/leave/", views.community_leave, name="leave"),
    path(
        "<slug:slug>/requests/<int:pk>/approve/",
        views.request_decide,
        {"decision": "approve"},
        name="request_approve",
    ),
    path(
        "<slug:slug>/requests/<int:pk>/decline/",
        views.request_decide,
        {"decision": "decline"},
        name="request_decline",
    ),
    path("<slug:slug>/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("<slug:slug>/invitations/", views.invitation_create, name="invitation_create"),
    path(
        "<slug:slug>/invitations/<int:pk>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("<slug:slug>/invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
