"""The minutes pages' forms: they read what people type; the services judge it."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import BODY_LENGTH


class MinutesForm(forms.Form):
    body = forms.CharField(
        label=_("The minutes, in Markdown"),
        required=False,  # the service says what is missing
        strip=False,
        help_text=_(
            "Headings start with #, lists with -; **bold**, *italics*, [a link](https://…)."
        ),
        widget=forms.Textarea(attrs={"rows": 24, "maxlength": BODY_LENGTH, "spellcheck": "true"}),
    )


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search the minutes"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
