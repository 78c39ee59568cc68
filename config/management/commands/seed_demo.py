from django.conf import settings
from django.core.management.base import BaseCommand

from config.demo import demo_counts, demo_seed


class Command(BaseCommand):
    help = "Create the demo guideline, users and prompts (safe to run again)."

    def handle(self, *args: object, **options: object) -> None:
        seeded = demo_seed(data_dir=settings.DATA_DIR)
        counts = demo_counts()
        self.stdout.write(
            f"Demo data: {counts['guidelines']} guideline(s), "
            f"{counts['published_versions']} published version(s), {counts['prompts']} prompt(s)."
        )
        # Passwords go to the terminal once, when made: start-up logs are often kept and
        # shared, and later starts point at the file instead.
        if seeded.new_logins:
            self.stdout.write("Log in with (shown this once):")
            for login in seeded.new_logins:
                self.stdout.write(
                    f"  {login.username:<9} password {login.password}   ({', '.join(login.roles)})"
                )
        self.stdout.write(f"Demo logins are kept in {seeded.logins_file} (readable by you only).")
