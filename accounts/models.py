"""Teams, memberships with roles, team-scoped API keys, and the team's audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q

from promptopt.surface import Surface

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


# Roles allowed to change a team's prompts, datasets and runs.
WRITER_ROLES = (Role.OWNER, Role.EDITOR)


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )

    # How each team-owned model reaches its team (see accounts.scope); "" is the team itself.
    TEAM_PATHS = ("",)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    TEAM_PATHS = ("team",)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_one_per_user_and_team"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A team's API key. Only a public prefix and a peppered hash are stored; the key itself never is."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part of the key, shown in lists.")
    key_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the key with the server's pepper.")
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ApiKeyQuerySet.as_manager()

    TEAM_PATHS = ("team",)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=ApiKeyScope.values), name="api_key_scope_valid"),
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=Q(revoked_at__isnull=True),
                name="api_key_active_name_unique",
                violation_error_message="The team already has an active API key with this name.",
            ),
        ]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.WRITE


class AuditAction(models.TextChoices):
    LABEL_MOVE = "label.move", "Label moved"
    LABEL_DELETE = "label.delete", "Label removed"
    VERSION_CREATE = "version.create", "Version created"
    API_KEY_CREATE = "api_key.create", "API key created"
    API_KEY_REVOKE = "api_key.revoke", "API key revoked"
    RUN_START = "run.start", "Run started"
    RUN_CANCEL = "run.cancel", "Run cancelled"
    MEMBERSHIP_SET = "membership.set", "Member added or role changed"
    MEMBERSHIP_REMOVE = "membership.remove", "Member removed"


class AuditEvent(models.Model):
    """One change worth answering "who did this?" for: who, what, when and through which surface.

    Written in the same transaction as the change it records (both or neither), never updated. The actor's
    name is kept as text too, so the line still reads right after the user or key is deleted.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="audit_events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    surface = models.CharField(max_length=16, choices=Surface.choices)
    actor = models.CharField(max_length=200, help_text="Who acted, as shown when it happened.")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=300, help_text="What changed, e.g. “sentiment: production → v3”.")
    details = models.JSONField(default=dict, blank=True)

    TEAM_PATHS = ("team",)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"], name="audit_event_team_recent")]
        constraints = [
            models.CheckConstraint(condition=Q(action__in=AuditAction.values), name="audit_event_action_valid"),
            models.CheckConstraint(condition=Q(surface__in=Surface.values), name="audit_event_surface_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.get_action_display()}: {self.target}"
