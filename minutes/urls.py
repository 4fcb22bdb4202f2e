from django.urls import path

from .views import archive

app_name = "minutes"

MINUTES = "<slug:slug>/meetings/<int:meeting_id>/minutes/"

urlpatterns = [
    # The minutes of a meeting: the draft's editor, approval, revisions; the archive,
    # search and exports (views/archive.py).
    path(MINUTES, archive.minutes_page, name="minutes"),
    path(f"{MINUTES}edit/", archive.minutes_edit, name="edit"),
    path(f"{MINUTES}preview/", archive.minutes_preview, name="preview"),
    path(f"{MINUTES}approve/", archive.minutes_approve, name="approve"),
    path(f"{MINUTES}withhold/", archive.lines_withhold, name="withhold"),
    path(f"{MINUTES}r<int:number>.md", archive.export_markdown, name="markdown"),
    path(f"{MINUTES}r<int:number>.pdf", archive.export_pdf, name="pdf"),
    path("<slug:slug>/minutes/", archive.archive, name="archive"),
    # Distribution, attachments, members' action items (views/distribution.py).
]
