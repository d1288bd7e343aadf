"""Audit bundles: chosen by filter, rendered by the worker, polled until ready, downloaded."""

import datetime as dt
import io
import zipfile

import pytest
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.models import OrmQ

from packets.audit.export import BUNDLE_TASK, NothingToExport, cases_matching, start_bundle
from packets.audit.tasks import render_bundle
from packets.models import AuditEvent, Case, ExportJob
from tests import factories
from tests.packets.contract_content import packet_content, pdf_text

pytestmark = pytest.mark.django_db

OPENED = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def _cases_with_packets(policy, n, **case_fields):
    packets = []
    for i in range(n):
        case = factories.CaseFactory(opened_at=OPENED + dt.timedelta(days=i), **case_fields)
        packets.append(factories.PacketFactory(case=case, policy=policy, content=packet_content(policy)))
    return packets


def test_it_chooses_cases_by_kind_category_status_and_store_dates(policy):
    inside = _cases_with_packets(policy, 2)  # opened 2026-03-02 and 03-03, 10:00 in New York
    factories.CaseFactory(opened_at=OPENED)  # no packet: nothing to print
    other_kind = factories.PacketFactory(
        case=factories.CaseFactory(kind=Case.Kind.STOCKOUT, opened_at=OPENED), policy=policy
    ).case
    late_evening = factories.PacketFactory(  # 2026-03-03 23:30 in New York, already 03-04 in UTC
        case=factories.CaseFactory(opened_at=dt.datetime(2026, 3, 4, 4, 30, tzinfo=dt.UTC)), policy=policy
    ).case

    chosen = cases_matching(
        {"kind": "backorder", "category": "restock_delay", "opened_from": "2026-03-02", "opened_to": "2026-03-03"}
    )

    assert list(chosen) == [inside[0].case, inside[1].case, late_evening]
    assert other_kind not in cases_matching({"kind": "backorder"})
    assert list(cases_matching({"status": "resolved"})) == []


def test_it_renders_a_zip_of_pdfs_in_the_worker_and_reaches_100_percent(
    owner, policy, django_capture_on_commit_callbacks
):
    packets = _cases_with_packets(policy, 3)
    with django_capture_on_commit_callbacks(execute=True):
        job = start_bundle(user=owner, filters={"kind": "backorder"}, output=ExportJob.Output.ZIP)
    assert (job.status, job.total, job.progress) == ("queued", 3, 0)
    assert OrmQ.objects.count() == 1, "the render waits in the task queue, not in the request"
    assert import_string(BUNDLE_TASK) is render_bundle  # the queued name is the task below

    render_bundle(job.pk)  # what the worker runs

    job.refresh_from_db()
    assert (job.status, job.progress, job.done_count) == ("done", 100, 3)
    with job.file.open("rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as archive:
        names = archive.namelist()
        pdfs = sorted(name for name in names if name.endswith(".pdf"))
        assert pdfs == sorted(f"case-{p.case_id}-packet-v1.pdf" for p in packets)
        assert "MANIFEST.csv" in names
        for packet in packets:
            text = pdf_text(archive.read(f"case-{packet.case_id}-packet-v1.pdf"))
            assert packet.content_sha256 in text
        manifest = archive.read("MANIFEST.csv").decode()
        assert all(p.content_sha256 in manifest for p in packets)
    exported = AuditEvent.objects.filter(action="packet.exported")
    assert sorted(exported.values_list("case_id", flat=True)) == sorted(p.case_id for p in packets)
    assert {e.actor for e in exported} == {owner} and {e.data["job"] for e in exported} == {job.pk}
    job_events = AuditEvent.objects.filter(object_id=str(job.pk), object_type="packets.exportjob").order_by("id")
    assert list(job_events.values_list("action", flat=True)) == ["export.requested", "export.running", "export.done"]

    render_bundle(job.pk)  # delivered twice: a finished job is left as it is
    assert AuditEvent.objects.filter(action="packet.exported").count() == 3


def test_it_combines_packets_into_one_pdf_each_with_its_own_page_numbers(owner, policy):
    packets = _cases_with_packets(policy, 2)
    job = start_bundle(user=owner, filters={}, output=ExportJob.Output.PDF)

    render_bundle(job.pk)

    job.refresh_from_db()
    assert job.status == "done" and job.file.name.endswith(".pdf")
    with job.file.open("rb") as handle:
        text = pdf_text(handle.read())
    for packet in packets:
        assert f"Case {packet.case_id} · Packet v1" in text
        assert packet.content_sha256 in text
    assert text.count("Page 1 of ") == 2


def test_it_starts_again_when_a_lost_worker_left_the_job_running(owner, policy):
    _cases_with_packets(policy, 1)
    job = start_bundle(user=owner, filters={}, output=ExportJob.Output.ZIP)
    job.set_status(ExportJob.Status.RUNNING, started_at=OPENED)
    ExportJob.objects.filter(pk=job.pk).update(done_count=1, progress=40)

    render_bundle(job.pk)

    job.refresh_from_db()
    assert (job.status, job.progress) == ("done", 100)


def test_it_marks_the_job_failed_and_lets_the_error_reach_the_queue(owner, policy):
    packet = _cases_with_packets(policy, 1)[0]
    job = start_bundle(user=owner, filters={}, output=ExportJob.Output.ZIP)
    ExportJob.objects.filter(pk=job.pk).update(case_ids=[packet.case_id + 1000])  # the case is gone

    with pytest.raises(NothingToExport):
        render_bundle(job.pk)

    job.refresh_from_db()
    assert job.status == "failed" and "None of the chosen cases" in job.error
    assert not job.file


# --------------------------------------------------------------------------- pages


def test_it_queues_a_bundle_from_the_form_without_rendering_in_the_request(
    support_client, support, policy, django_capture_on_commit_callbacks
):
    _cases_with_packets(policy, 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            reverse("packets:bundle-create"),
            {"kind": "backorder", "opened_from": "2026-03-01", "opened_to": "2026-03-31", "output": "zip"},
        )
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("packets:bundle-detail", args=[job.pk])
    assert (job.created_by, job.total, job.filters) == (
        support,
        2,
        {"kind": "backorder", "opened_from": "2026-03-01", "opened_to": "2026-03-31"},
    )
    assert OrmQ.objects.count() == 1
    assert not AuditEvent.objects.filter(action="packet.exported").exists()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"kind": "stockout", "output": "zip"}, "No case with a packet matches these filters."),
        (
            {"opened_from": "2026-04-01", "opened_to": "2026-03-01", "output": "zip"},
            "The first opening date must not be after the last.",
        ),
        ({"kind": "parcel", "output": "zip"}, "Select a valid choice."),
    ],
)
def test_it_explains_a_bundle_it_cannot_make(owner_client, policy, data, reason):
    _cases_with_packets(policy, 1)
    response = owner_client.post(reverse("packets:bundle-create"), data)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not ExportJob.objects.exists()


def test_it_polls_progress_and_stops_with_286_when_ready(owner_client, owner, policy):
    _cases_with_packets(policy, 1)
    job = start_bundle(user=owner, filters={}, output=ExportJob.Output.ZIP)
    progress_url = reverse("packets:bundle-progress", args=[job.pk])

    page = owner_client.get(reverse("packets:bundle-detail", args=[job.pk])).content.decode()
    assert f'hx-get="{progress_url}"' in page and 'hx-trigger="every 1s"' in page

    running = owner_client.get(progress_url, headers={"HX-Request": "true"})
    assert running.status_code == 200 and "0%" in running.content.decode()

    render_bundle(job.pk)
    done = owner_client.get(progress_url, headers={"HX-Request": "true"})
    assert done.status_code == 286
    body = done.content.decode()
    assert "100%" in body and "hx-trigger" not in body
    assert reverse("packets:bundle-download", args=[job.pk]) in body


def test_it_lets_the_asker_and_the_owner_download_and_logs_it(client, owner, support, policy):
    _cases_with_packets(policy, 1)
    job = start_bundle(user=support, filters={}, output=ExportJob.Output.ZIP)
    download = reverse("packets:bundle-download", args=[job.pk])
    client.force_login(support)
    assert client.get(download).status_code == 409  # not rendered yet

    render_bundle(job.pk)
    for user in (support, owner):
        client.force_login(user)
        response = client.get(download)
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith('attachment; filename="audit-bundle-')
        assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).testzip() is None
    assert list(AuditEvent.objects.filter(action="export.downloaded").values_list("actor_label", flat=True)) == [
        "olivia",
        "sam",
    ]


def test_it_keeps_one_support_agents_bundle_from_another(client, owner, support, policy):
    _cases_with_packets(policy, 1)
    job = start_bundle(user=owner, filters={}, output=ExportJob.Output.ZIP)
    client.force_login(support)
    for name in ("bundle-detail", "bundle-progress", "bundle-download"):
        assert client.get(reverse(f"packets:{name}", args=[job.pk])).status_code == 403
    assert AuditEvent.objects.filter(action="access.refused", actor=support).count() == 3


def test_it_refuses_outsiders_on_the_bundle_pages(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("packets:bundle-list")).status_code == 403
    assert client.post(reverse("packets:bundle-create"), {"output": "zip"}).status_code == 403
    assert AuditEvent.objects.filter(action="access.refused", actor=outsider).count() == 2


@pytest.mark.parametrize("rows", [1, 15])
def test_it_lists_bundles_in_a_fixed_number_of_queries(owner_client, owner, django_assert_num_queries, rows):
    for _ in range(rows):
        ExportJob.objects.create(created_by=owner, case_ids=[1], total=1)
    # session, user, user's groups (role), the recent jobs with who asked
    with django_assert_num_queries(4):
        response = owner_client.get(reverse("packets:bundle-list"))
    assert response.status_code == 200 and response.content.decode().count("Queued") == rows


@pytest.mark.parametrize("rows", [1, 40])
def test_it_answers_a_progress_poll_in_a_fixed_number_of_queries(owner_client, owner, django_assert_num_queries, rows):
    job = ExportJob.objects.create(created_by=owner, case_ids=list(range(rows)), total=rows)
    # session, user, user's groups (role), the job with who asked
    with django_assert_num_queries(4):
        assert owner_client.get(reverse("packets:bundle-progress", args=[job.pk])).status_code == 200
