"""Schedules the job reaper every minute: lapsed runs and evaluations are resumed or, after their attempts, failed."""

from __future__ import annotations

from django.db import migrations

REAPER_NAME = "promptopt-jobs-reaper"


def schedule_reaper(apps, schema_editor):  # noqa: ANN001 - migration signature
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.update_or_create(
        name=REAPER_NAME,
        defaults={
            "func": "workflows.tasks.jobs_reap_task",
            "schedule_type": "I",  # minutes
            "minutes": 1,
            "repeats": -1,
        },
    )


def unschedule_reaper(apps, schema_editor):  # noqa: ANN001 - migration signature
    apps.get_model("django_q", "Schedule").objects.filter(name=REAPER_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0002_optimization_runs"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_reaper, unschedule_reaper)]
