from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from accounts.urls import auth_urlpatterns
from accounts.views import set_language
from communities.views import home

from .health import healthz

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include(auth_urlpatterns)),
    path("c/", include("rooms.urls")),
    path("c/", include("meetings.urls")),
    path("c/", include("agendas.urls")),
    path("c/", include("minutes.urls")),
    path("c/", include("communities.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]
