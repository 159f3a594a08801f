"""The project package as an app, so its system checks are registered at start-up."""

from django.apps import AppConfig


class PromptOptConfig(AppConfig):
    name = "promptopt"
    verbose_name = "PromptOpt"

    def ready(self) -> None:
        from promptopt import checks  # noqa: F401 - importing registers the checks
