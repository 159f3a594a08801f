"""django-q2 tasks: thin wrappers that take ids, claim the job through its row, and run it."""

from __future__ import annotations

from workflows.evaluation_runner import evaluation_execute


def evaluation_run_task(evaluation_id: int) -> None:
    # The claim inside evaluation_execute makes repeated deliveries harmless.
    evaluation_execute(evaluation_id=evaluation_id)
