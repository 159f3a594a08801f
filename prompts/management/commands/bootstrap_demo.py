"""`manage.py bootstrap_demo`: a demo user, team, prompt and dataset, created once and reused after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from accounts.actors import Actor
from accounts.models import Role, Team
from accounts.services import membership_set, team_create, user_create
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.models import Prompt
from prompts.selectors import label_list, version_latest
from prompts.services import dataset_version_import, label_move, prompt_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "promptopt-demo"  # noqa: S105 - a published demo login, printed for the user on purpose
DEMO_TEAM_SLUG = "demo"
DEMO_PROMPT_SLUG = "support-intent"
DEMO_DATASET_NAME = "Support intents"
DEMO_DATASET_FILE = Path(__file__).resolve().parents[2] / "demo" / "support_intents.csv"
INTENTS = ["billing", "shipping", "returns", "account", "technical"]


class Command(BaseCommand):
    help = "Create (or reuse) the demo user, team, prompt and dataset, and print what exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="Create without printing the summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        # Each step finds what an earlier run created, so running the command again changes nothing.
        system = Actor.system("manage.py bootstrap_demo")
        users = get_user_model()
        user = users.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            # Staff so the demo user can open the admin; never superuser, so scoping applies to them.
            user = user_create(username=DEMO_USERNAME, password=DEMO_PASSWORD, is_staff=True, actor=system)
        team = Team.objects.filter(slug=DEMO_TEAM_SLUG).first()
        if team is None:
            team = team_create(name="Demo team", slug=DEMO_TEAM_SLUG, actor=system, owner=user)
        elif not team.memberships.filter(user=user).exists():
            membership_set(team=team, user=user, role=Role.OWNER, actor=system)
        # The demo objects are the demo user's own, as if they had made them.
        actor = Actor.for_user(user)

        prompt = Prompt.objects.filter(team=team, slug=DEMO_PROMPT_SLUG).first()
        if prompt is None:
            prompt = prompt_create(
                team=team,
                name="Support intent",
                slug=DEMO_PROMPT_SLUG,
                description="Route a customer message to the team that handles it.",
                actor=actor,
                # A first draft as people write them: a chat instruction and free text. `make demo` optimizes it.
                first_version=PromptContent(
                    system_instruction=(
                        "You route customer messages to the team that handles them: " + ", ".join(INTENTS) + "."
                    ),
                    template="Customer message: {{message}}",
                    max_tokens=16,
                ),
            )
        version = version_latest(prompt=prompt)
        if version is not None and not label_list(prompt=prompt).filter(name="production").exists():
            label_move(prompt=prompt, name="production", version=version, actor=actor)

        imported = dataset_version_import(
            team=team,
            dataset_name=DEMO_DATASET_NAME,
            file_name=DEMO_DATASET_FILE.name,
            content=DEMO_DATASET_FILE.read_bytes(),
            options=ImportOptions(input_fields=("message",), target_field="intent"),
            actor=actor,
        )
        if options["quiet"]:
            return
        dataset_version = imported.version
        self.stdout.write(self.style.SUCCESS("PromptOpt demo is ready."))
        self.stdout.write(f"  user:     {DEMO_USERNAME} (password {DEMO_PASSWORD!r} when first created; staff)")
        self.stdout.write(f"  team:     {team.name} [{team.slug}]")
        self.stdout.write(
            f"  prompt:   {prompt.name} [{team.slug}/{prompt.slug}] version {version.number if version else '-'}"
            f", labels: {', '.join(f'{lb.name}→v{lb.version.number}' for lb in label_list(prompt=prompt))}"
        )
        if version is not None:
            output = f"one of {', '.join(version.output_choices)}" if version.output_choices else version.output_type
            self.stdout.write(f"            output: {output}, {version.layout} layout")
        counts = ", ".join(f"{name} {count}" for name, count in dataset_version.split_counts.items())
        self.stdout.write(
            f"  dataset:  {dataset_version.dataset.name} [{team.slug}/{dataset_version.dataset.slug}] "
            f"version {dataset_version.number}: {dataset_version.row_count} examples ({counts})"
            f"{'' if imported.created else ' (already present)'}"
        )
        self.stdout.write("  next:     make run, then open http://127.0.0.1:8000/ and sign in as the demo user")
