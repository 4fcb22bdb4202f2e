from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .forms import EmailAuthenticationForm, LocalizedPasswordResetForm

app_name = "accounts"

urlpatterns = [
    path("signup/", views.sign_up, name="sign_up"),
    path("signup/confirm/<uidb64>/<token>/", views.sign_up_confirm, name="sign_up_confirm"),
    path("profile/", views.profile, name="profile"),
]

# Django's own auth views keep their global names (login, logout, password_reset, ...).
auth_urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm),
        name="login",
    ),
    path(
        "password_reset/",
        auth_views.PasswordResetView.as_view(form_class=LocalizedPasswordResetForm),
        name="password_reset",
    ),
    path("", include("django.contrib.auth.urls")),
]
