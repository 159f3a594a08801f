"""Stop sequences on prompt versions (an empty list for every version saved before them)."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TABLE = "prompts_promptversion"


def restore_sqlite_trigger(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """SQLite adds a column with a default by rebuilding the table, which drops the trigger 0002 made to refuse
    updates of versions; it is made again. PostgreSQL adds the column in place and keeps its trigger."""
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable;")
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, 'rows of {TABLE} are immutable; create a new record instead'); END;"
    )


class Migration(migrations.Migration):
    dependencies = [("prompts", "0003_audit_api_keys")]

    operations = [
        migrations.AddField(
            model_name="promptversion",
            name="stop",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text='Texts that end an answer where they appear, e.g. ["\\n"] for one line.',
            ),
        ),
        migrations.RunPython(restore_sqlite_trigger, migrations.RunPython.noop),
    ]
