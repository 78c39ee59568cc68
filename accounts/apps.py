from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        # Registers the schema's names for our token checks (drf-spectacular finds its
        # extensions by their being defined).
        from accounts import token_schemes  # noqa: F401
