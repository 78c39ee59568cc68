from django.apps import AppConfig


class RankingsConfig(AppConfig):
    name = "rankings"
    verbose_name = "Rankings"

    def ready(self) -> None:
        from labeling.models import Task
        from labeling.task_kinds import TaskKind, register
        from rankings.selectors import ranking_task_payload

        register(Task.Kind.RANKING, TaskKind(payload=ranking_task_payload, page="rankings-task"))
