import zoneinfo

from django.utils import timezone, translation

from .timezones import valid_zone_names

TZ_COOKIE = "tz"


class UserPreferencesMiddleware:
    """Show each person the site in their own language and time zone.

    Language: the profile's, else what LocaleMiddleware chose (the language cookie, then
    the browser's Accept-Language). Time zone: the profile's, else the browser's zone that
    a small script stores in the `tz` cookie, else the site default.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone_name = None
        if user is not None and user.is_authenticated:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
            zone_name = user.timezone
        else:
            cookie = request.COOKIES.get(TZ_COOKIE, "")
            zone_name = cookie if cookie in valid_zone_names() else None
        if zone_name:
            timezone.activate(zoneinfo.ZoneInfo(zone_name))
        else:
            timezone.deactivate()
        return self.get_response(request)
