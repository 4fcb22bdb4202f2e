from django import forms
from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from accounts.forms import TimeZoneField

from .models import Community


class CommunityForm(forms.ModelForm):
    timezone = TimeZoneField()
    video_url = forms.URLField(
        label=capfirst(Community._meta.get_field("video_url").verbose_name),
        max_length=500,
        required=False,
        assume_scheme="https",
    )

    class Meta:
        model = Community
        fields = (
            "name",
            "slug",
            "description",
            "language",
            "timezone",
            "video_url",
            "contact_email",
            "join_policy",
        )
        widgets = {
            "description": forms.Textarea(attrs={"rows": 5}),
            "join_policy": forms.RadioSelect,
        }
        error_messages = {
            "slug": {"unique": _("Another community already uses this short name. Choose another.")}
        }


class InvitationForm(forms.Form):
    days = forms.IntegerField(
        label=_("Valid for (days)"),
        min_value=1,
        max_value=90,
        initial=settings.INVITATION_DEFAULT_DAYS,
        # The view shows errors as messages above the page, away from the field, so each
        # must say what it is about ("Ensure this value is ..." would not).
        error_messages=dict.fromkeys(
            ("required", "invalid", "min_value", "max_value"),
            _("An invitation lasts between 1 and 90 days."),
        ),
    )
    note = forms.CharField(
        label=_("Note (for managers only)"),
        max_length=200,
        required=False,
        help_text=_("For your own records, e.g. who it is for. The invitee does not see it."),
    )
