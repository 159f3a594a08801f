"""The project package as an app, so its system checks and the log redaction of secrets are set up at start-up."""

from django.apps import AppConfig


class PromptOptConfig(AppConfig):
    name = "promptopt"
    verbose_name = "PromptOpt"

    def ready(self) -> None:
        from promptopt import checks  # noqa: F401 - importing registers the checks
        from promptopt.redaction import install_log_redaction

        install_log_redaction()
