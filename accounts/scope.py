"""The tenant scope: for any team-owned model, the rows an actor may see or change, as one queryset.

Selectors, the admin, the API's base viewset and the web UI's views all take their objects from here, so
"another team's object" means the same thing everywhere: not found. A model says how it reaches its team
with `TEAM_PATHS`, ORM paths OR'd together ("" for Team itself; two for a prediction, which belongs to a
run's step or to an evaluation).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from accounts.actors import Actor
from accounts.models import Team

M = TypeVar("M", bound=Model)


def team_paths(model: type[Model]) -> tuple[str, ...]:
    paths: tuple[str, ...] | None = getattr(model, "TEAM_PATHS", None)
    if paths is None:
        raise TypeError(f"{model.__name__} declares no TEAM_PATHS: it is not a team-owned model")
    return paths


def team_condition(model: type[Model], teams: QuerySet[Team] | list[int]) -> Q:
    """Rows of `model` that belong to one of `teams` (a queryset of teams or a list of their ids)."""
    values: Any = teams.values("pk") if isinstance(teams, QuerySet) else list(teams)
    condition = Q()
    for path in team_paths(model):
        condition |= Q(**{f"{path}__in" if path else "pk__in": values})
    return condition


def _scoped(rows: type[M] | QuerySet[M], teams: QuerySet[Team] | None) -> QuerySet[M]:
    queryset: QuerySet[M] = rows if isinstance(rows, QuerySet) else rows._default_manager.all()
    if teams is None:  # the system, or a superuser: every team
        return queryset
    return queryset.filter(team_condition(queryset.model, teams))


def visible_to(rows: type[M] | QuerySet[M], actor: Actor) -> QuerySet[M]:
    """The rows the actor may read."""
    return _scoped(rows, actor.visible_teams())


def writable_by(rows: type[M] | QuerySet[M], actor: Actor) -> QuerySet[M]:
    """The rows the actor may change (owner or editor roles, write keys)."""
    return _scoped(rows, actor.writable_teams())


def team_id_of(obj: Model) -> int | None:
    """The id of the team an object belongs to, following its model's first path that leads somewhere."""
    for path in team_paths(type(obj)):
        if not path:
            return int(obj.pk)
        *relations, last = path.split("__")
        target: Any = obj
        for relation in relations:
            target = getattr(target, relation, None)
            if target is None:
                break
        else:
            team_id = getattr(target, f"{last}_id", None)
            if team_id is not None:
                return int(team_id)
    return None
