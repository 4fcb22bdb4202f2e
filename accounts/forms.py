from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, UserCreationForm
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from outbox.services import email_enqueue

from .models import User
from .notifications import link_key
from .timezones import timezone_choices


class TimeZoneField(forms.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Time zone"))
        super().__init__(choices=timezone_choices, **kwargs)
        self.error_messages["invalid_choice"] = _(
            "“%(value)s” is not a time zone we know. Choose one from the list."
        )


class SignUpForm(UserCreationForm):
    timezone = TimeZoneField(initial="America/Toronto")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # A script starts the menu at the browser's zone; never over a person's choice.
            self.fields["timezone"].widget.attrs["data-browser-zone"] = ""

    class Meta:
        model = User
        fields = ("email", "display_name", "timezone", "language")
        help_texts = {"display_name": _("How other members see you, e.g. “Dr. Amélie Roy”.")}

    def clean_email(self):
        return User.objects.normalize_email(self.cleaned_data["email"]).lower()

    def _get_validation_exclusions(self):
        # The model would report an address already in use, and whether it has an account
        # is not the form's to say: user_sign_up handles it without telling.
        return {*super()._get_validation_exclusions(), "email"}


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("Email address"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class ProfileForm(forms.ModelForm):
    timezone = TimeZoneField()

    class Meta:
        model = User
        fields = ("display_name", "background", "interests", "province", "timezone", "language")
        widgets = {"interests": forms.Textarea(attrs={"rows": 3})}


class LocalizedPasswordResetForm(PasswordResetForm):
    """Writes the reset email in the account's language, whatever the page's."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        """Queue the email in the outbox instead of sending it in the request; each reset
        link is its own message."""
        user = context["user"]
        with translation.override(user.language):
            subject = "".join(render_to_string(subject_template_name, context).splitlines())
            body = render_to_string(email_template_name, context)
            html = (
                render_to_string(html_email_template_name, context)
                if html_email_template_name
                else ""
            )
        email_enqueue(
            kind="accounts/password_reset",
            key=link_key(user, context["token"]),
            recipient=user,
            to=to_email,
            from_email=from_email or "",
            subject=subject,
            body=body,
            html=html,
            cleared_when_sent=True,
        )
