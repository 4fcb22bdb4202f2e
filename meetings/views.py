"""Meeting pages: HTTP plumbing only (communities.http helpers, one service or selector each)."""

from django.http import HttpResponse


def meeting_list(request, slug):
    return HttpResponse(status=501)


meeting_detail = handover = rota = lambda request, slug, **kwargs: HttpResponse(status=501)  # noqa: E731
