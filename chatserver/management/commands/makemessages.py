"""`makemessages` that also extracts the scripts' `t("...")` calls.

static/js/site.js wraps `window.gettext` in a small `t()` (the page still works when the
catalogue fails to load); xgettext only knows `gettext` and friends, so without this
keyword the djangojs catalogue would stay empty. Django's documented way to add xgettext
options is to subclass the command.
"""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    def handle(self, *args, **options):
        if options.get("domain") == "djangojs":
            self.xgettext_options = [*self.xgettext_options, "--keyword=t"]
        return super().handle(*args, **options)
