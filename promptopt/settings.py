"""Django settings, derived entirely from the typed environment in `promptopt.env`."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF

from promptopt.env import BASE_DIR, default_local_threads, load_env_settings, usable_cores
from promptopt.logs import build_logging_config

# Lets admin and form classes be subscripted for the type checker (ModelAdmin[Prompt]) at run time too.
django_stubs_ext.monkeypatch()

ENV = load_env_settings()
ENV.ensure_data_dir()

DEBUG = ENV.DEBUG
SECRET_KEY = ENV.secret("SECRET_KEY")
ALLOWED_HOSTS = ENV.ALLOWED_HOSTS
CSRF_TRUSTED_ORIGINS = ENV.CSRF_TRUSTED_ORIGINS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "django_htmx",
    "axes",
    "csp",
    "promptopt.apps.PromptOptConfig",
    "accounts",
    "prompts",
    "workflows",
]

MIDDLEWARE = [
    "promptopt.middleware.RequestIdMiddleware",
    "promptopt.middleware.SurfaceMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "promptopt.urls"
WSGI_APPLICATION = "promptopt.wsgi.application"
ASGI_APPLICATION = "promptopt.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "promptopt.ui.ui_frame",
            ],
        },
    },
]

# --- Database: SQLite in WAL mode by default, PostgreSQL (psycopg 3) when DATABASE_URL says so.
DATABASES: dict[str, dict[str, Any]]
if ENV.DATABASE_URL and not ENV.DATABASE_URL.startswith("sqlite"):
    DATABASES = {"default": dict(dj_database_url.parse(ENV.DATABASE_URL, conn_max_age=60, conn_health_checks=True))}
    DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
else:
    sqlite_path = dj_database_url.parse(ENV.DATABASE_URL)["NAME"] if ENV.DATABASE_URL else None
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path or ENV.DATA_DIR / "promptopt.sqlite3",
            "OPTIONS": {
                # WAL lets the web process read while a worker writes; IMMEDIATE avoids upgrade deadlocks.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: local memory by default, Redis when REDIS_URL is set.
CACHES: dict[str, dict[str, Any]]
if ENV.REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": ENV.REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "promptopt"}}

# --- Background work: django-q2 on the ORM broker by default, on Redis when REDIS_URL is set.
# timeout < retry, or a slow task would be handed to a second worker while the first still runs.
Q_CLUSTER: dict[str, Any] = {
    "name": "promptopt",
    "workers": ENV.WORKERS,
    "timeout": ENV.TASK_TIMEOUT_SECONDS,
    "retry": ENV.TASK_TIMEOUT_SECONDS + 300,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Background tasks",
}
JOB_LEASE_SECONDS = ENV.JOB_LEASE_SECONDS
JOB_MAX_ATTEMPTS = ENV.JOB_MAX_ATTEMPTS
if ENV.REDIS_URL:
    Q_CLUSTER["redis"] = ENV.REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Sign-in throttling (django-axes): failed sign-ins are counted per account and per client address, in the
# database so every web process shares the count; either reaching the limit locks it for the cool-off. It
# covers every sign-in that goes through Django's authenticate(): the admin, the web UI and the API's tokens.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = ENV.SIGN_IN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=ENV.SIGN_IN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not recorded: that table would only grow
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "ui:sign_in"
LOGIN_REDIRECT_URL = "ui:home"
LOGOUT_REDIRECT_URL = "ui:sign_in"

LANGUAGE_CODE = "en-us"
TIME_ZONE = ENV.TIME_ZONE
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Chart.js comes from npm (package.json, installed by `make`), served by the app itself: no CDN, no copy in git.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# Links to other sites carry no path or query (which may hold ids); same-site requests keep the full referrer.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content security policy (django-csp): scripts, styles and everything else only from this site, no inline
# code, no framing, forms post only here. Templates therefore keep scripts and styles in static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if ENV.HTTPS:
    # Served over TLS, usually by a proxy in front: cookies never travel in clear, browsers stick to HTTPS.
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # On by default (`check --deploy` asks for both): PromptOpt usually has a host name of its own, so its
    # subdomains are its own too; preload only allows listing, which the operator still has to request, and
    # the browsers' preload list asks for a max-age of at least a year.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = ENV.HSTS_INCLUDE_SUBDOMAINS
    SECURE_HSTS_PRELOAD = ENV.HSTS_PRELOAD
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * (365 if ENV.HSTS_PRELOAD else 30)
    # Load balancers check health over plain HTTP on the machine's own address.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- REST API (/api/v1/): API keys for machines, JWT and the session (with CSRF) for people; every request
# needs an actor, lists are paginated, and rate limits are counted by django-ratelimit in the shared cache.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "promptopt.api.authentication.ApiKeyAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "promptopt.api.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["promptopt.api.permissions.HasActor"],
    "DEFAULT_THROTTLE_CLASSES": ["promptopt.api.throttling.ActorRateThrottle"],
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.URLPathVersioning",
    "ALLOWED_VERSIONS": ["v1"],
    "DEFAULT_VERSION": "v1",
    "DEFAULT_PAGINATION_CLASS": "promptopt.api.pagination.Pages",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["rest_framework.filters.SearchFilter", "rest_framework.filters.OrderingFilter"],
    "DEFAULT_PARSER_CLASSES": ["promptopt.api.parsers.StrictJSONParser"],
    # JSON only: the browsable API renders inline scripts, which the content security policy forbids.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "promptopt.api.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "promptopt.api.exceptions.problem_details_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
METRICS_TOKEN = ENV.METRICS_TOKEN.get_secret_value() if ENV.METRICS_TOKEN is not None else None
API_RATE_LIMITS = {
    "read": ENV.API_RATE_READ,
    "write": ENV.API_RATE_WRITE,
    "runs": ENV.API_RATE_RUNS,  # creating optimization runs and evaluations: they spend provider money
    "tokens": ENV.API_RATE_TOKENS,  # obtaining and refreshing tokens, per client address
}
SIMPLE_JWT = {
    "SIGNING_KEY": ENV.secret("JWT_SIGNING_KEY"),
    "ALGORITHM": "HS256",
    "AUDIENCE": "promptopt-api",
    "ISSUER": "promptopt",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    # Every refresh returns a new refresh token and blacklists the old one: a stolen one works once at most.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PromptOpt API",
    "DESCRIPTION": "Prompts, datasets, optimization runs and evaluations. See docs/api.md for worked examples.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: the typed outputs are pydantic models, whose optional fields are JSON Schema's "null" type.
    "OAS_VERSION": "3.1.0",
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "workflows.models.JobStatus",
        "StepStatusEnum": "workflows.models.StepStatus",
        "SplitEnum": "prompts.splits.SPLIT_CHOICES",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Request bodies: JSON bodies stay small; dataset uploads are checked against DATASET_MAX_BYTES (413).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- PromptOpt's own settings.
API_KEY_PEPPER = ENV.secret("API_KEY_PEPPER")
DATASET_MAX_BYTES = ENV.DATASET_MAX_BYTES
DATASET_MAX_ROWS = ENV.DATASET_MAX_ROWS
# Files between the web UI's upload steps (preview and column mapping, then import).
UPLOAD_STAGING_DIR = ENV.DATA_DIR / "uploads"

# Model providers (see workflows/provider_factory.py). Prices are USD per million tokens, for budgets.
LOCAL_MODEL_PATH = ENV.LOCAL_MODEL_PATH
LOCAL_CONTEXT_TOKENS = ENV.LOCAL_CONTEXT_TOKENS
LOCAL_THREADS = ENV.LOCAL_THREADS or default_local_threads(
    cores=usable_cores(), workers=ENV.WORKERS, in_worker_cluster=sys.argv[1:2] == ["qcluster"]
)
TRANSFORMERS_MODEL_PATH = ENV.TRANSFORMERS_MODEL_PATH
TRANSFORMERS_DEVICE = ENV.TRANSFORMERS_DEVICE
PROVIDER_TIMEOUT_SECONDS = ENV.PROVIDER_TIMEOUT_SECONDS
PROVIDER_RETRY_ATTEMPTS = ENV.PROVIDER_RETRY_ATTEMPTS
PROVIDER_RETRY_FIRST_WAIT_SECONDS = ENV.PROVIDER_RETRY_FIRST_WAIT_SECONDS
PROVIDER_RETRY_TOTAL_WAIT_SECONDS = ENV.PROVIDER_RETRY_TOTAL_WAIT_SECONDS
HF_TOKEN = ENV.HF_TOKEN.get_secret_value() if ENV.HF_TOKEN else None
HF_MODEL = ENV.HF_MODEL
HF_BASE_URL = ENV.HF_BASE_URL
HF_MAX_CONCURRENCY = ENV.HF_MAX_CONCURRENCY
ALLOW_PRIVATE_BASE_URLS = ENV.ALLOW_PRIVATE_BASE_URLS
PROVIDER_ALLOWED_HOSTS = ENV.PROVIDER_ALLOWED_HOSTS
VERTEX_PROJECT = ENV.VERTEX_PROJECT
VERTEX_LOCATION = ENV.VERTEX_LOCATION
VERTEX_MODEL = ENV.VERTEX_MODEL
VERTEX_CREDENTIALS_FILE = ENV.VERTEX_CREDENTIALS_FILE
MODEL_PRICES_PER_MILLION_TOKENS: dict[str, tuple[float, float]] = {
    # (input, output); local models cost nothing. Update when providers change their prices.
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash-lite": (0.10, 0.40),
}

LOGGING = build_logging_config(log_format=ENV.LOG_FORMAT, level=ENV.LOG_LEVEL)
