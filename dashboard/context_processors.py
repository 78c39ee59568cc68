"""The dashboard's section tabs, in one place for every dashboard template."""

from django.http import HttpRequest

# (key, label, URL name). A section is listed here once its view exists.
SECTIONS = [
    ("overview", "Overview", "dashboard-overview"),
    ("people", "People", "dashboard-people"),
    ("datasets", "Datasets", "datasets-index"),
    ("training", "Training", "trainer-training-page"),
    ("playground", "Playground", "trainer-playground-page"),
    ("sources", "Model sources", "sources-page"),
    ("jobs", "Jobs", "jobs-page"),
    ("schedules", "Schedules", "dashboard-schedules"),
]


# Where pages with the section tabs live: the dashboard, and the Datasets page at /datasets/
# (the dataset pages' own address, older than the dashboard).
SECTION_PATHS = ("/dashboard/", "/datasets/")


def dashboard_sections(request: HttpRequest) -> dict[str, object]:
    if not request.path.startswith(SECTION_PATHS):
        return {}
    return {"dashboard_sections": SECTIONS}
