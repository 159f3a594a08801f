"""System checks refuse settings under which a background task could run twice at once."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from promptopt.checks import task_timeout_below_retry


def test_it_accepts_the_configured_timeout_and_retry():
    assert task_timeout_below_retry(None) == []


def test_it_refuses_a_timeout_not_below_retry(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 600, "retry": 600}

    [error] = task_timeout_below_retry(None)

    assert error.id == "promptopt.E001" and "timeout (600s) must be below retry (600s)" in error.msg
    with pytest.raises(SystemCheckError, match=r"promptopt\.E001"):
        call_command("check")
