"""Worker task for audit bundles: render every chosen case's packet into one file.

The job row is the task's only input. It is re-read on every run; a finished job is left as it
is, and a job found already running (a redelivery after a lost worker) starts again from the
first case, overwriting nothing until the finished file is saved.
"""

from __future__ import annotations

import io
import zipfile

from django.core.files.base import ContentFile
from django.utils import timezone

from backorders.formats import csv_safe
from packets.audit.export import NothingToExport, case_for_export, pdf_filename, record_export, render_packet_document
from packets.audit.pdf import merge_documents
from packets.models import Case, ExportJob


def render_bundle(job_id: int) -> None:
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    if job.is_finished:
        return
    if job.status == ExportJob.Status.QUEUED:
        job.set_status(ExportJob.Status.RUNNING, reason="Rendering started", started_at=timezone.now())
    _advance(job, 0)
    try:
        body, name, skipped = _render(job)
    except Exception as exc:
        job.set_status(
            ExportJob.Status.FAILED,
            reason=f"Rendering failed: {type(exc).__name__}",
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    job.file.save(name, ContentFile(body), save=False)
    job.set_status(
        ExportJob.Status.DONE,
        reason=f"Bundle ready: {job.total - len(skipped)} packet(s)",
        file=job.file.name,
        done_count=job.total,
        progress=100,
        error="; ".join(skipped),
        finished_at=timezone.now(),
    )


def _render(job: ExportJob) -> tuple[bytes, str, list[str]]:
    user = job.created_by
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    documents = []
    skipped: list[str] = []
    manifest = io.StringIO()
    rows = csv_safe.writer(manifest)
    rows.writerow(["case", "title", "packet_version", "sha256_recorded", "sha256_recomputed", "intact", "file"])
    archive_buffer = io.BytesIO()
    with zipfile.ZipFile(archive_buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, case_id in enumerate(job.case_ids, start=1):
            try:
                case = case_for_export(case_id)
                document, context = render_packet_document(case)
            except (Case.DoesNotExist, NothingToExport):
                skipped.append(f"case {case_id} skipped (no packet to print)")
                _advance(job, index)
                continue
            packet, integrity = context["packet"], context["integrity"]
            filename = pdf_filename(case, packet)
            if job.output == ExportJob.Output.ZIP:
                archive.writestr(filename, document.write_pdf())
            else:
                documents.append(document)
            rows.writerow(
                [case.pk, case.title, packet.version, integrity.stored, integrity.computed, integrity.intact, filename]
            )
            record_export(case, context, user=user, via="bundle", job=job.pk)
            _advance(job, index)
        if job.output == ExportJob.Output.ZIP:
            archive.writestr("MANIFEST.csv", manifest.getvalue())
    if len(skipped) == len(job.case_ids):
        raise NothingToExport("None of the chosen cases has a packet to print.")
    if job.output == ExportJob.Output.ZIP:
        return archive_buffer.getvalue(), f"audit-bundle-{job.pk}-{stamp}.zip", skipped
    return merge_documents(documents), f"audit-bundle-{job.pk}-{stamp}.pdf", skipped


def _advance(job: ExportJob, done: int) -> None:
    """Publish progress for the page that polls it; 100% is only ever set with the finished file."""
    progress = min(99, done * 100 // job.total) if job.total else 0
    ExportJob.objects.filter(pk=job.pk).update(done_count=done, progress=progress)
    job.done_count, job.progress = done, progress
