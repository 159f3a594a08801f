#!/usr/bin/env python
"""Django's command-line utility for PromptOpt."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptopt.settings")
    from django.core.management import execute_from_command_line

    from promptopt.env import ConfigurationError

    try:
        execute_from_command_line(sys.argv)
    except ConfigurationError as error:
        # A bad environment is the operator's to fix: show the message, not a traceback.
        sys.stderr.write(f"{error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
