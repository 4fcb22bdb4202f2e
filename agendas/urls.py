from django.urls import path

from . import views

app_name = "agendas"

TEMPLATE = "<slug:slug>/agenda/template/"
AGENDA = "<slug:slug>/meetings/<int:meeting_id>/agenda/"

urlpatterns = [
    path(TEMPLATE, views.template_page, name="template"),
    path(f"{TEMPLATE}settings/", views.template_settings, name="template_settings"),
    path(f"{TEMPLATE}items/", views.template_item_add, name="template_item_add"),
    path(f"{TEMPLATE}items/<int:item_id>/", views.template_item, name="template_item"),
    path(AGENDA, views.agenda_page, name="agenda"),
    path(f"{AGENDA}focus/", views.agenda_focus, name="focus"),
    path(f"{AGENDA}items/", views.agenda_item_add, name="item_add"),
    path(f"{AGENDA}items/<int:item_id>/", views.agenda_item, name="item"),
    path(f"{AGENDA}publish/", views.agenda_publish, name="publish"),
    path("<slug:slug>/meetings/<int:meeting_id>/live/", views.live_page, name="live"),
    path("<slug:slug>/topics/", views.topics, name="topics"),
    path("<slug:slug>/topics/<int:topic_id>/choose/", views.topic_choose, name="topic_choose"),
    path("<slug:slug>/topics/<int:topic_id>/drop/", views.topic_drop, name="topic_drop"),
]
