from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    # The package is not named `datasets`: that is Hugging Face's library (which TRL
    # imports, beside our importers, in benchmarks/*_vs_trl.py), and a package of ours at
    # the top of the path would hide it. The app is still "datasets" to Django: its tables,
    # content types, URL names and templates.
    name = "dataset_io"
    label = "datasets"
    verbose_name = "Datasets"

    def ready(self) -> None:
        from dataset_io.models import DatasetSnapshot, ImportJob
        from jobs.services import JobKind, job_kind_register

        job_kind_register(
            ImportJob,
            JobKind("dataset_io.tasks.import_file", "Import", "datasets-import-page", "job_id"),
        )
        job_kind_register(
            DatasetSnapshot,
            JobKind(
                "dataset_io.tasks.export_snapshot", "Export", "datasets-export-page", "snapshot_id"
            ),
        )
