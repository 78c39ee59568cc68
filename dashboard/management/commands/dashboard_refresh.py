"""Count the dashboard's figures now: after an upgrade on a large database, before the
first visit to /dashboard/ (which would otherwise count from scratch while it waits)."""

from django.core.management.base import BaseCommand

from dashboard.rollup import rollup_refresh


class Command(BaseCommand):
    help = "Refresh the dashboard's overview and people figures (incrementally unless --full)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--full", action="store_true", help="count everything again from scratch"
        )

    def handle(self, *args, full: bool = False, **options) -> None:  # type: ignore[no-untyped-def]
        rollup = rollup_refresh(full=full)
        self.stdout.write(
            f"Dashboard figures as of {rollup.refreshed_at:%Y-%m-%d %H:%M:%S} "
            f"({rollup.took_ms:,.0f} ms)."
        )
