"""`manage.py create_prompt --team T --name N --template-file F`: create a prompt with its version 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from promptopt.errors import PromptOptError
from prompts.content import PromptContent
from prompts.management.commands._options import error_messages, resolve_actor, resolve_team
from prompts.models import OutputType, Provider
from prompts.services import prompt_create


def _read_text(path: Path | None, option: str) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"{option}: {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise CommandError(f"{option}: {path} is not UTF-8 text (byte {error.start})") from None
    except OSError as error:  # a folder, no permission…
        raise CommandError(f"{option}: cannot read {path} ({error.strerror})") from None


class Command(BaseCommand):
    help = "Create a prompt and its first version from a template file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", required=True, help="Team slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", help="Default: derived from the name.")
        parser.add_argument("--description", default="")
        parser.add_argument("--template-file", required=True, type=Path, help="User message with {{variables}}.")
        parser.add_argument("--system-file", type=Path, help="System instruction.")
        parser.add_argument("--choices", help="Comma-separated labels: the output must be one of them.")
        parser.add_argument("--provider", choices=Provider.values, default=Provider.LOCAL)
        parser.add_argument("--model", default="", help="Model name; default: the provider's default.")
        parser.add_argument("--temperature", type=float, default=0.0)
        parser.add_argument("--max-tokens", type=int, default=256)
        parser.add_argument("--as", dest="username", help="Username to record as the author.")

    def handle(self, *args: Any, **options: Any) -> None:
        team = resolve_team(options["team"])
        actor = resolve_actor(options["username"], "create_prompt")
        choices = [c.strip() for c in options["choices"].split(",")] if options["choices"] else []
        draft = PromptContent(
            template=_read_text(options["template_file"], "--template-file"),
            system_instruction=_read_text(options["system_file"], "--system-file"),
            output_type=OutputType.CHOICE if choices else OutputType.TEXT,
            output_choices=tuple(choices),
            provider=Provider(options["provider"]),
            model_name=options["model"],
            temperature=options["temperature"],
            max_tokens=options["max_tokens"],
        )
        try:
            prompt = prompt_create(
                team=team,
                name=options["name"],
                slug=options["slug"],
                description=options["description"],
                actor=actor,
                first_version=draft,
            )
        except (ValidationError, PromptOptError) as error:
            raise CommandError("prompt not created: " + "; ".join(error_messages(error))) from None
        self.stdout.write(self.style.SUCCESS(f"Created prompt {team.slug}/{prompt.slug} with version 1"))
