from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """Registers config as an app so it can carry the whole-platform commands."""

    name = "config"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from config.converters import register

        register()
