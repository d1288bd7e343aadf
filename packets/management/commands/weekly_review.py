from pathlib import Path

from django.core.management.base import BaseCommand

from packets.audit.pdf import render_pdf
from packets.review import build_weekly_review


class Command(BaseCommand):
    help = "Print the weekly review's headlines, or write the whole review as a PDF with --pdf FILE."

    def add_arguments(self, parser):
        parser.add_argument("--pdf", type=Path, help="Write the review as a PDF to this file.")

    def handle(self, *args, pdf: Path | None = None, **options):
        review = build_weekly_review()
        if pdf:
            pdf.write_bytes(render_pdf("packets/review_weekly_print.html", review))
            self.stdout.write(f"Wrote the weekly review to {pdf}")
            return
        self.stdout.write(f"Weekly review {review['period_start']:%Y-%m-%d} – {review['now']:%Y-%m-%d}")
        self.stdout.write(f"  stockouts: {len(review['stockouts'])}")
        for row in review["stockouts"]:
            self.stdout.write(
                f"    {row.supplier}: {row.product.sku}, {row.waiting_units} units waiting; {row.outcome}"
            )
        self.stdout.write(f"  stale shipments: {len(review['stale'])}")
        for shipper, count in review["stale_by_supplier"]:
            self.stdout.write(f"    {shipper}: {count}")
        self.stdout.write(f"  products to pause: {', '.join(r['product'].sku for r in review['to_pause']) or 'none'}")
        self.stdout.write(
            f"  product pages to reword: {', '.join(r['product'].sku for r in review['wording']) or 'none'}"
        )
        names = ", ".join(c.supplier.name for c in review["deprioritise"]) or "none"
        self.stdout.write(f"  suppliers to deprioritise: {names}")
        self.stdout.write(f"  purchase orders awaiting approval: {len(review['proposals'])}")
