from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from accounts.roles import Role
        from labeling.models import Assignment, Task
        from labeling.queue import lease_deleted
        from labeling.selectors import demonstration_task_payload, review_task_payload
        from labeling.task_kinds import TaskKind, register

        # Writing is a labeler's job; judging other people's work a reviewer's.
        register(
            Task.Kind.DEMONSTRATION,
            TaskKind(
                label="Write a demonstration",
                roles=(Role.LABELER, Role.ADMIN),
                page="labeling-task",
                payload=demonstration_task_payload,
            ),
        )
        register(
            Task.Kind.REVIEW,
            TaskKind(
                label="Review a demonstration",
                roles=(Role.REVIEWER, Role.ADMIN),
                page="labeling-task",
                payload=review_task_payload,
            ),
        )
        # A lease deleted with its person (the row cascades) gives its slot back.
        post_delete.connect(lease_deleted, sender=Assignment, dispatch_uid="lease_deleted")
