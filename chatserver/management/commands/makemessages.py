"""`makemessages` that also extracts the scripts' `t("...")` and `fmt("...", {...})` calls.

The scripts in static/js wrap `window.gettext` in small `t()` and `fmt()` helpers (the
page still works when the catalogue fails to load); xgettext only knows `gettext` and
friends, so without these keywords the djangojs catalogue would miss their strings.
Django's documented way to add xgettext options is to subclass the command.
"""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    def handle(self, *args, **options):
        if options.get("domain") == "djangojs":
            self.xgettext_options = [*self.xgettext_options, "--keyword=t", "--keyword=fmt"]
        return super().handle(*args, **options)
