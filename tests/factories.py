"""factory_boy factories shared by the whole suite."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from accounts.actors import Actor
from accounts.models import Membership, Role, Team
from prompts.models import Dataset, DatasetVersion, Example, Prompt, PromptVersion, content_hash
from workflows.models import EvaluationRun, OptimizationRun

# The platform itself, as commands and workers act: every permission, audited as "system (tests)".
SYSTEM_ACTOR = Actor.system("tests")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.EDITOR


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Prompt {n}")
    slug = factory.Sequence(lambda n: f"prompt-{n}")


class PromptVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptVersion

    prompt = factory.SubFactory(PromptFactory)
    number = factory.Sequence(lambda n: n + 1)
    template = factory.Sequence(lambda n: f"Classify ({n}): {{{{text}}}}")

    @factory.lazy_attribute
    def content_hash(self) -> str:
        return content_hash({"template": self.template, "number": self.number})


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Dataset {n}")
    slug = factory.Sequence(lambda n: f"dataset-{n}")


class DatasetVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetVersion

    dataset = factory.SubFactory(DatasetFactory)
    number = factory.Sequence(lambda n: n + 1)
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
    row_count = 0
    input_fields = factory.LazyFunction(lambda: ["text"])


class ExampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Example

    version = factory.SubFactory(DatasetVersionFactory)
    position = factory.Sequence(lambda n: n)
    inputs = factory.Sequence(lambda n: {"text": f"example {n}"})
    expected_output = "positive"
    split = "train"


class OptimizationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OptimizationRun

    baseline_version = factory.SubFactory(PromptVersionFactory)
    prompt = factory.SelfAttribute("baseline_version.prompt")
    team = factory.SelfAttribute("prompt.team")
    dataset_version = factory.SubFactory(
        DatasetVersionFactory, dataset=factory.SubFactory(DatasetFactory, team=factory.SelfAttribute("...team"))
    )


class EvaluationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvaluationRun

    version = factory.SubFactory(PromptVersionFactory)
    team = factory.SelfAttribute("version.prompt.team")
    dataset_version = factory.SubFactory(
        DatasetVersionFactory, dataset=factory.SubFactory(DatasetFactory, team=factory.SelfAttribute("...team"))
    )
    split = "test"
