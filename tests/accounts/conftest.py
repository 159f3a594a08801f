"""Fixtures the accounts tests share with the web UI's: a team's prompt and dataset, and a scripted provider."""

from tests.ui.conftest import catalog, scripted_provider  # noqa: F401  (re-exported as fixtures)
