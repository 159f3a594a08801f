"""The routes of API version 1, mounted at /api/v1/ (see promptopt/urls.py): one place lists every resource."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from accounts.api import (
    ApiKeyViewSet,
    AuditEventViewSet,
    MemberViewSet,
    TeamViewSet,
    TokenLogoutView,
    TokenObtainView,
    TokenRefreshView,
    TokenVerifyView,
)
from promptopt.api.docs import docs_page
from prompts.api import (
    DatasetVersionViewSet,
    DatasetViewSet,
    ExampleViewSet,
    LabelViewSet,
    PromptViewSet,
    VersionViewSet,
)
from workflows.api import CompareView, EvaluationViewSet, RunViewSet

TEAM = r"teams/(?P<team>[-a-zA-Z0-9_]+)"
PROMPT = TEAM + r"/prompts/(?P<prompt>[-a-zA-Z0-9_]+)"
DATASET = TEAM + r"/datasets/(?P<dataset>[-a-zA-Z0-9_]+)"

router = SimpleRouter()
router.register(r"teams", TeamViewSet, basename="team")
router.register(TEAM + r"/members", MemberViewSet, basename="member")
router.register(TEAM + r"/api-keys", ApiKeyViewSet, basename="api-key")
router.register(TEAM + r"/audit-events", AuditEventViewSet, basename="audit-event")
router.register(TEAM + r"/prompts", PromptViewSet, basename="prompt")
router.register(PROMPT + r"/versions", VersionViewSet, basename="version")
router.register(PROMPT + r"/labels", LabelViewSet, basename="label")
router.register(TEAM + r"/datasets", DatasetViewSet, basename="dataset")
router.register(DATASET + r"/versions", DatasetVersionViewSet, basename="dataset-version")
router.register(DATASET + r"/versions/(?P<number>[0-9]+)/examples", ExampleViewSet, basename="example")
router.register(TEAM + r"/runs", RunViewSet, basename="run")
router.register(TEAM + r"/evaluations", EvaluationViewSet, basename="evaluation")

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/token/verify/", TokenVerifyView.as_view(), name="token-verify"),
    path("auth/token/logout/", TokenLogoutView.as_view(), name="token-logout"),
    path("teams/<slug:team>/compare/", CompareView.as_view(), name="compare"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs_page(SpectacularSwaggerSplitView), name="swagger-ui"),
    path("redoc/", docs_page(SpectacularRedocView), name="redoc"),
    *router.urls,
]
