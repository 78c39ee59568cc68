"""Database triggers that keep published guideline versions as they were published.

Labels point at the version they were made under, so its text must never change, whatever
path a write takes (the API, Django's admin, a shell, QuerySet.update, raw SQL). Allowed
after publication: only published -> retired, with its timestamp.

Deleting a published version is refused by the trigger on PostgreSQL only: SQLite's
test-database flush deletes rows one by one, and there the model's delete() and the
PROTECT foreign keys of everything stamped with the version guard it instead.
"""

from django.db import migrations

MESSAGE = "published guideline versions are immutable; write a new version"

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION guidelines_version_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        NEW.body IS DISTINCT FROM OLD.body
        OR NEW.html IS DISTINCT FROM OLD.html
        OR NEW.summary IS DISTINCT FROM OLD.summary
        OR NEW.number IS DISTINCT FROM OLD.number
        OR NEW.guideline_id IS DISTINCT FROM OLD.guideline_id
        OR NEW.published_at IS DISTINCT FROM OLD.published_at
        OR NEW.created_by_id IS DISTINCT FROM OLD.created_by_id
        OR NOT (NEW.status = OLD.status OR (OLD.status = 'published' AND NEW.status = 'retired'))
    ) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER guidelines_version_immutable
BEFORE UPDATE OR DELETE ON guidelines_guidelineversion
FOR EACH ROW EXECUTE FUNCTION guidelines_version_immutable();
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS guidelines_version_immutable ON guidelines_guidelineversion;
DROP FUNCTION IF EXISTS guidelines_version_immutable();
"""

SQLITE_UP = [
    f"""
    CREATE TRIGGER guidelines_version_immutable_update
    BEFORE UPDATE ON guidelines_guidelineversion
    WHEN OLD.status <> 'draft' AND (
        NEW.body IS NOT OLD.body
        OR NEW.html IS NOT OLD.html
        OR NEW.summary IS NOT OLD.summary
        OR NEW.number IS NOT OLD.number
        OR NEW.guideline_id IS NOT OLD.guideline_id
        OR NEW.published_at IS NOT OLD.published_at
        OR NEW.created_by_id IS NOT OLD.created_by_id
        OR NOT (NEW.status = OLD.status OR (OLD.status = 'published' AND NEW.status = 'retired'))
    )
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
    """,
]

SQLITE_DOWN = ["DROP TRIGGER IF EXISTS guidelines_version_immutable_update"]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": [POSTGRES_UP], "sqlite": SQLITE_UP}[vendor]
    for statement in statements:
        schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": [POSTGRES_DOWN], "sqlite": SQLITE_DOWN}[vendor]
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("guidelines", "0002_version_html_and_retirement")]

    operations = [migrations.RunPython(install, uninstall)]
