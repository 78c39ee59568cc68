from django.apps import AppConfig


class RankingsConfig(AppConfig):
    name = "rankings"
    verbose_name = "Rankings"

    def ready(self) -> None:
        from accounts.roles import Role
        from labeling.task_kinds import TaskKind, register
        from rankings.models import RANKING
        from rankings.selectors import ranking_task_payload

        # Judging other people's replies is a reviewer's job, as reviewing demonstrations is.
        register(
            RANKING,
            TaskKind(
                label="Rank candidates",
                roles=(Role.REVIEWER, Role.ADMIN),
                page="rankings-task",
                payload=ranking_task_payload,
            ),
        )
