"""A trigram index for near-duplicate prompts on PostgreSQL (SQLite compares in Python)."""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS labeling_prompt_search_trgm "
        "ON labeling_prompt USING gin (search_text gin_trgm_ops)"
    )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS labeling_prompt_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("labeling", "0003_prompt_near_duplicates_and_model_drafts")]

    operations = [migrations.RunPython(install, uninstall)]
