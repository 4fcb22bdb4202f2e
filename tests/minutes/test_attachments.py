"""The files staff keep with a meeting: an allow-list of types (extension and first
bytes), a size limit, stored where nothing serves them, downloaded by members only."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from communities.enums import JoinPolicy
from communities.services import CommunityActionError
from minutes import services
from minutes.models import Attachment
from tests.factories import CommunityFactory, MembershipFactory, UserFactory
from tests.meetings.helpers import community_with, meetings_of, series_make

pytestmark = pytest.mark.django_db


def _office(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}document.xml", "<doc/>")
    return buffer.getvalue()


def _zip_without_parts() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.exe", "MZ")
    return buffer.getvalue()


GOOD = {
    "notes.pdf": (b"%PDF-1.7\n%notes\n", "application/pdf"),
    "report.docx": (
        _office("word/"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "numbers.xlsx": (
        _office("xl/"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "slides.pptx": (
        _office("ppt/"),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    "chart.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "image/png"),
    "photo.JPG": (b"\xff\xd8\xff\xe0" + b"\x00" * 16, "image/jpeg"),
    "readme.txt": ("Bonjour, l'équipe\n".encode(), "text/plain"),
    "table.csv": (b"name,count\nA,1\n", "text/csv"),
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def place():
    community, manager, members = community_with(2)
    meeting = meetings_of(series_make(community, manager))[0]
    return community, manager, members, meeting


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/octet-stream")


def _stored_files(media) -> list:
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def _download_url(community, attachment) -> str:
    return reverse(
        "minutes:attachment", args=[community.slug, attachment.meeting_id, attachment.pk]
    )


@pytest.mark.parametrize("name", sorted(GOOD))
def test_attachment_add_keeps_each_allowed_type_privately(place, media, name):
    _community, manager, _members, meeting = place
    content, mimetype = GOOD[name]

    attachment = services.attachment_add(
        actor=manager, meeting=meeting, upload=_upload(name, content), title=" Handout  one "
    )

    assert (attachment.title, attachment.filename, attachment.content_type) == (
        "Handout one",
        name,
        mimetype,
    )
    assert attachment.size == len(content)
    assert attachment.file.name.startswith(f"private/minutes/{meeting.pk}/")
    assert name not in attachment.file.name  # a random name on disk
    [stored] = _stored_files(media)
    assert stored.read_bytes() == content


def test_attachment_add_without_title_takes_the_files_name(place):
    _community, manager, _members, meeting = place

    attachment = services.attachment_add(
        actor=manager, meeting=meeting, upload=_upload("notes.pdf", GOOD["notes.pdf"][0])
    )

    assert attachment.title == "notes.pdf"


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("tool.exe", b"MZ\x90\x00", "bad_type"),
        ("page.html", b"<script>alert(1)</script>", "bad_type"),
        ("image.svg", b"<svg onload='alert(1)'/>", "bad_type"),
        ("noextension", b"%PDF-1.7\n", "bad_type"),
        ("fake.pdf", b"\x89PNG\r\n\x1a\n", "bad_content"),
        ("fake.png", b"%PDF-1.7\n", "bad_content"),
        ("fake.docx", _zip_without_parts(), "bad_content"),
        ("fake.xlsx", _office("word/"), "bad_content"),
        ("binary.txt", b"MZ\x00\x00\x00", "bad_content"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_attachment_add_refuses_what_is_not_allowed_and_keeps_nothing(
    place, media, name, content, code
):
    _community, manager, _members, meeting = place

    with pytest.raises(services.MinutesError) as refused:
        services.attachment_add(actor=manager, meeting=meeting, upload=_upload(name, content))

    assert (refused.value.code, refused.value.field) == (code, "file")
    assert Attachment.objects.count() == 0
    assert _stored_files(media) == []


def test_attachment_add_over_the_size_limit_is_refused(place, media, settings):
    settings.MINUTES_ATTACHMENT_MAX_BYTES = 1024
    _community, manager, _members, meeting = place
    upload = _upload("big.pdf", b"%PDF-1.7\n" + b"x" * 1016)  # 1025 bytes

    with pytest.raises(services.MinutesError) as refused:
        services.attachment_add(actor=manager, meeting=meeting, upload=upload)

    assert refused.value.code == "too_large"
    assert str(refused.value.message) == "The file is too large: at most 1.0\xa0KB."
    assert Attachment.objects.count() == 0
    assert _stored_files(media) == []
    # At the limit exactly, it is kept.
    services.attachment_add(
        actor=manager, meeting=meeting, upload=_upload("ok.pdf", b"%PDF-1.7\n" + b"x" * 1015)
    )
    assert Attachment.objects.count() == 1


def test_the_size_limit_defaults_to_20_mb():
    from django.conf import settings

    assert settings.MINUTES_ATTACHMENT_MAX_BYTES == 20 * 1024 * 1024


def test_attachment_add_by_a_member_is_forbidden(place, media):
    _community, _manager, members, meeting = place

    with pytest.raises(CommunityActionError) as refused:
        services.attachment_add(
            actor=members[0], meeting=meeting, upload=_upload("notes.pdf", b"%PDF-1.7\n")
        )

    assert refused.value.forbidden
    assert Attachment.objects.count() == 0
    assert _stored_files(media) == []


# Downloads -----------------------------------------------------------------------------


@pytest.fixture
def attached(place):
    community, manager, members, meeting = place
    attachment = services.attachment_add(
        actor=manager,
        meeting=meeting,
        upload=_upload("Focus slides.pdf", GOOD["notes.pdf"][0]),
        title="Focus slides",
    )
    return community, manager, members, meeting, attachment


def test_a_member_downloads_an_attachment_as_a_file(client, attached):
    community, _manager, members, _meeting, attachment = attached
    client.force_login(members[0])

    response = client.get(_download_url(community, attachment))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Focus slides.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == GOOD["notes.pdf"][0]


def test_a_signed_in_non_member_of_an_open_community_is_refused(client, attached):
    community, _manager, _members, _meeting, attachment = attached
    client.force_login(UserFactory())

    response = client.get(_download_url(community, attachment))

    assert response.status_code == 403


def test_a_member_of_another_community_gets_404_from_an_invitation_only_one(client, place):
    community, manager, _members, meeting = place
    community.join_policy = JoinPolicy.INVITATION
    community.save(update_fields=["join_policy"])
    attachment = services.attachment_add(
        actor=manager, meeting=meeting, upload=_upload("notes.pdf", GOOD["notes.pdf"][0])
    )
    outsider = MembershipFactory(community=CommunityFactory()).user
    client.force_login(outsider)

    response = client.get(_download_url(community, attachment))

    assert response.status_code == 404
    assert b"%PDF" not in response.content


def test_an_anonymous_visitor_is_sent_to_sign_in(client, attached):
    community, _manager, _members, _meeting, attachment = attached

    response = client.get(_download_url(community, attachment))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_another_meetings_attachment_id_is_404(client, attached):
    community, _manager, members, _meeting, attachment = attached
    other = meetings_of(community)[1]
    client.force_login(members[0])

    url = reverse("minutes:attachment", args=[community.slug, other.pk, attachment.pk])

    assert client.get(url).status_code == 404


def test_the_files_have_no_public_url(client, attached, settings):
    _community, _manager, members, _meeting, attachment = attached
    client.force_login(members[0])

    assert client.get(f"/media/{attachment.file.name}").status_code == 404
    assert client.get(f"/{attachment.file.name}").status_code == 404


# The management page's forms -------------------------------------------------------------


def _upload_url(community, meeting) -> str:
    return reverse("minutes:attachment_upload", args=[community.slug, meeting.pk])


def test_a_manager_uploads_and_removes_through_the_page(
    client, place, media, django_capture_on_commit_callbacks
):
    community, manager, _members, meeting = place
    client.force_login(manager)

    response = client.post(
        _upload_url(community, meeting),
        {"title": "Slides", "file": _upload("slides.pdf", GOOD["notes.pdf"][0])},
        follow=True,
    )

    assert "“Slides” is attached." in response.text
    attachment = Attachment.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("minutes:attachment_delete", args=[community.slug, meeting.pk, attachment.pk]),
            follow=True,
        )
    assert "The file is removed." in response.text
    assert Attachment.objects.count() == 0
    assert _stored_files(media) == []


def test_a_disallowed_upload_through_the_page_says_why(client, place, media):
    community, manager, _members, meeting = place
    client.force_login(manager)

    response = client.post(
        _upload_url(community, meeting),
        {"title": "Tool", "file": _upload("tool.exe", b"MZ")},
        follow=True,
    )

    assert "This type of file cannot be attached." in response.text
    assert Attachment.objects.count() == 0


def test_a_member_cannot_upload_or_remove_through_the_page(client, attached):
    community, _manager, members, meeting, attachment = attached
    client.force_login(members[0])

    upload = client.post(
        _upload_url(community, meeting), {"file": _upload("x.pdf", GOOD["notes.pdf"][0])}
    )
    remove = client.post(
        reverse("minutes:attachment_delete", args=[community.slug, meeting.pk, attachment.pk])
    )

    assert (upload.status_code, remove.status_code) == (403, 403)
    assert list(Attachment.objects.all()) == [attachment]


def test_recording_url_must_be_http_or_https(place):
    from minutes.models import Minutes

    _community, manager, _members, meeting = place
    minutes = Minutes.objects.create(meeting=meeting)

    with pytest.raises(services.MinutesError) as refused:
        services.minutes_recording_set(actor=manager, minutes=minutes, url="javascript:alert(1)")

    assert refused.value.code == "bad_url"
    minutes.refresh_from_db()
    assert minutes.recording_url == ""
    services.minutes_recording_set(actor=manager, minutes=minutes, url="https://v.example/r")
    minutes.refresh_from_db()
    assert minutes.recording_url == "https://v.example/r"
