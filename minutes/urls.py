from django.urls import path  # noqa: F401 - the parts below add their routes

app_name = "minutes"

urlpatterns = [
    # The minutes of a meeting: the draft's editor, approval, revisions; the archive,
    # search and exports (views/archive.py).
    # Distribution, attachments, members' action items (views/distribution.py).
]
