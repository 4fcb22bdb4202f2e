from django.urls import path

from .views import archive, distribution

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
    path(
        "<slug:slug>/meetings/<int:meeting_id>/minutes/distribution/",
        distribution.distribution,
        name="distribution",
    ),
    path(
        "<slug:slug>/meetings/<int:meeting_id>/minutes/distribute/",
        distribution.distribute,
        name="distribute",
    ),
    path(
        "<slug:slug>/meetings/<int:meeting_id>/minutes/emails/retry/",
        distribution.emails_retry,
        name="emails_retry",
    ),
    path(
        "<slug:slug>/meetings/<int:meeting_id>/minutes/recording/",
        distribution.recording_set,
        name="recording",
    ),
    path(
        "<slug:slug>/meetings/<int:meeting_id>/minutes/distributed/",
        distribution.distributed,
        name="distributed",
    ),
    path(
        "<slug:slug>/meetings/<int:meeting_id>/files/",
        distribution.attachment_upload,
        name="attachment_upload",
    ),
    path(
        "<slug:slug>/meetings/<int:meeting_id>/files/<int:attachment_id>/",
        distribution.attachment,
        name="attachment",
    ),
    path(
        "<slug:slug>/meetings/<int:meeting_id>/files/<int:attachment_id>/delete/",
        distribution.attachment_delete,
        name="attachment_delete",
    ),
    path("<slug:slug>/action-items/", distribution.action_items, name="action_items"),
    path(
        "<slug:slug>/action-items/<int:action_id>/status/",
        distribution.action_item_status,
        name="action_item_status",
    ),
]
