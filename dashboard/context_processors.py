"""The dashboard's section tabs, in one place for every dashboard template."""

from django.http import HttpRequest

# (key, label, URL name). A section is listed here once its view exists.
SECTIONS = [
    ("overview", "Overview", "dashboard-overview"),
    ("people", "People", "dashboard-people"),
    ("datasets", "Datasets", "dashboard-datasets"),
    ("training", "Training", "trainer-training-page"),
    ("playground", "Playground", "trainer-playground-page"),
    ("jobs", "Jobs", "jobs-page"),
    ("schedules", "Schedules", "dashboard-schedules"),
]


def dashboard_sections(request: HttpRequest) -> dict[str, object]:
    if not request.path.startswith("/dashboard/"):
        return {}
    return {"dashboard_sections": SECTIONS}
