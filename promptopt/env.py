"""The typed environment: every setting PromptOpt reads from the process environment or `.env`."""

from __future__ import annotations

import os
import secrets
import tempfile
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent

DATABASE_SCHEMES = ("postgres", "postgresql", "sqlite")
REDIS_SCHEMES = ("redis", "rediss", "unix")


class ConfigurationError(RuntimeError):
    """Raised at start-up when the environment holds a value PromptOpt cannot run with."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


RATE_PATTERN = r"^[1-9][0-9]*/[smhd]$"


class EnvSettings(BaseSettings):
    """Settings read once at start-up; unknown variables are ignored, bad values stop the process."""

    model_config = SettingsConfigDict(env_file=BASE_DIR / ".env", env_file_encoding="utf-8", extra="ignore")

    DEBUG: bool = False
    HTTPS: bool = Field(default=False, description="Served over HTTPS (e.g. behind a TLS proxy): secure cookies")
    HSTS_INCLUDE_SUBDOMAINS: bool = Field(default=True, description="With HTTPS: HSTS covers subdomains too")
    HSTS_PRELOAD: bool = Field(default=True, description="With HTTPS: HSTS allows the browsers' preload list")
    SECRET_KEY: SecretStr | None = Field(default=None, description="Django signing key; generated if unset")
    JWT_SIGNING_KEY: SecretStr | None = Field(default=None, description="API token signing key")
    API_KEY_PEPPER: SecretStr | None = Field(default=None, description="Mixed into API key hashes")
    ALLOWED_HOSTS: Annotated[list[str], NoDecode] = ["localhost", "127.0.0.1", "[::1]"]
    CSRF_TRUSTED_ORIGINS: Annotated[list[str], NoDecode] = []
    DATABASE_URL: str | None = None
    REDIS_URL: str | None = None
    DATA_DIR: Path = BASE_DIR / "var"
    LOG_FORMAT: Literal["text", "json"] = "text"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    TIME_ZONE: str = "UTC"
    WORKERS: int = Field(default=2, ge=1, le=64)
    TASK_TIMEOUT_SECONDS: int = Field(default=3600, ge=10)
    # A worker renews its job's lease every quarter of this; a job whose lease lapsed is taken over.
    JOB_LEASE_SECONDS: int = Field(default=120, ge=4, le=3600)
    JOB_MAX_ATTEMPTS: int = Field(default=3, ge=1, le=20)
    DATASET_MAX_BYTES: int = Field(default=20 * 1024 * 1024, ge=1024)
    DATASET_MAX_ROWS: int = Field(default=100_000, ge=1)
    # Failed sign-ins allowed per account and per client address before both are locked for the cool-off.
    SIGN_IN_FAILURE_LIMIT: int = Field(default=5, ge=1, le=1000)
    SIGN_IN_LOCKOUT_MINUTES: int = Field(default=15, ge=1, le=7 * 24 * 60)
    # API rate limits, "N/s", "N/m", "N/h" or "N/d", per API key or user (tokens: per client address).
    API_RATE_READ: str = Field(default="1200/m", pattern=RATE_PATTERN)
    API_RATE_WRITE: str = Field(default="240/m", pattern=RATE_PATTERN)
    API_RATE_RUNS: str = Field(default="30/m", pattern=RATE_PATTERN)
    API_RATE_TOKENS: str = Field(default="30/m", pattern=RATE_PATTERN)
    # Prometheus scrapes /metrics with `Authorization: Bearer <METRICS_TOKEN>`; unset, /metrics does not exist.
    METRICS_TOKEN: SecretStr | None = Field(default=None, min_length=16)

    # Model providers. The embedded local model needs nothing; the others are configured here.
    LOCAL_MODEL_PATH: Path | None = Field(default=None, description="Another GGUF file instead of SmolLM2")
    LOCAL_CONTEXT_TOKENS: int = Field(default=2048, ge=256, le=131072)
    # Unset: sized to the machine (see default_local_threads).
    LOCAL_THREADS: int | None = Field(default=None, ge=1, le=256)
    TRANSFORMERS_MODEL_PATH: Path | None = Field(default=None, description="A transformers model folder or GGUF")
    TRANSFORMERS_DEVICE: str = Field(default="cpu", pattern=r"^(cpu|cuda(:\d+)?|mps)$")
    PROVIDER_TIMEOUT_SECONDS: float = Field(default=60.0, gt=0, le=3600)
    # Retries of a call that failed with 408, 429, 5xx, a timeout or a garbled answer: attempts in all, the
    # first wait (doubling each time, unless the server sent Retry-After) and the waiting one run may do in all.
    PROVIDER_RETRY_ATTEMPTS: int = Field(default=4, ge=1, le=20)
    PROVIDER_RETRY_FIRST_WAIT_SECONDS: float = Field(default=1.0, ge=0, le=60)
    PROVIDER_RETRY_TOTAL_WAIT_SECONDS: float = Field(default=120.0, ge=0, le=3600)
    HF_TOKEN: SecretStr | None = None
    HF_MODEL: str | None = None
    HF_BASE_URL: str | None = None
    # Requests one run sends a Hugging Face / self-hosted server at once: match the server's parallel slots.
    HF_MAX_CONCURRENCY: int = Field(default=8, ge=1, le=256)
    ALLOW_PRIVATE_BASE_URLS: bool = Field(default=False, description="Let base URLs point at private addresses")
    PROVIDER_ALLOWED_HOSTS: Annotated[list[str], NoDecode] = []
    VERTEX_PROJECT: str | None = None
    VERTEX_LOCATION: str = "us-central1"
    VERTEX_MODEL: str = "gemini-2.5-flash"
    VERTEX_CREDENTIALS_FILE: Path | None = None

    _split_hosts = field_validator("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "PROVIDER_ALLOWED_HOSTS", mode="before")(
        _split_commas
    )

    @field_validator("ALLOWED_HOSTS")
    @classmethod
    def _hosts_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one host name")
        return value

    @field_validator("CSRF_TRUSTED_ORIGINS")
    @classmethod
    def _origins_have_scheme(cls, value: list[str]) -> list[str]:
        for origin in value:
            if urlsplit(origin).scheme not in ("http", "https"):
                raise ValueError(f"{origin!r} must start with http:// or https://")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_scheme(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in DATABASE_SCHEMES:
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in DATABASE_SCHEMES)}")
        if parts.scheme.startswith("postgres") and not parts.path.strip("/"):
            raise ValueError("names no database; add it at the end, e.g. postgres://user@host:5432/promptopt")
        return value

    @field_validator("TIME_ZONE")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone (e.g. UTC, Europe/Berlin)") from None
        return value

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in REDIS_SCHEMES:
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in REDIS_SCHEMES)}")
        return value or None

    @field_validator("SECRET_KEY", "JWT_SIGNING_KEY", "API_KEY_PEPPER")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "must be at least 32 characters (use `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return value

    @model_validator(mode="after")
    def _keys_are_distinct(self) -> EnvSettings:
        # A leaked API token must not also forge sessions: the JWT key has to be its own secret.
        if (
            self.SECRET_KEY is not None
            and self.JWT_SIGNING_KEY is not None
            and self.SECRET_KEY.get_secret_value() == self.JWT_SIGNING_KEY.get_secret_value()
        ):
            raise ValueError("JWT_SIGNING_KEY must differ from SECRET_KEY")
        return self

    def ensure_data_dir(self) -> Path:
        """Create DATA_DIR if needed; an unusable one stops start-up with a message, not a traceback."""
        try:
            self.DATA_DIR.mkdir(parents=True, exist_ok=True)
            # A probe file of this process's own: web and worker processes start together (`make run`), and
            # one shared name let one delete the other's probe between its touch and its unlink.
            with tempfile.NamedTemporaryFile(dir=self.DATA_DIR, prefix=".writable-"):
                pass
        except OSError as error:
            raise ConfigurationError(
                f"PromptOpt cannot start: DATA_DIR {self.DATA_DIR} is not a writable folder ({error.strerror})."
            ) from None
        return self.DATA_DIR

    def secret(self, name: Literal["SECRET_KEY", "JWT_SIGNING_KEY", "API_KEY_PEPPER"]) -> str:
        """The configured secret, or one generated once and kept in DATA_DIR so restarts agree."""
        configured: SecretStr | None = getattr(self, name)
        if configured is not None:
            return configured.get_secret_value()
        path = self.DATA_DIR / "secrets" / name.lower()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Written in full to a file of this process's own, then linked into place, which fails if the name
            # exists: two processes starting together agree on one key, and neither can read a half-written one.
            with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}-", delete=False) as handle:
                handle.write(secrets.token_urlsafe(48))
            draft = Path(handle.name)
            draft.chmod(0o600)
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return path.read_text(encoding="utf-8").strip()


def describe_validation_error(error: ValidationError) -> str:
    lines = ["PromptOpt cannot start: the environment has invalid settings."]
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        lines.append(f"  {name}: {item['msg']}")
    lines.append("See .env.example for every variable and its format.")
    return "\n".join(lines)


# The embedded model is small (135M parameters): past a few threads, llama.cpp mostly adds synchronisation.
MAX_DEFAULT_LOCAL_THREADS = 4


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_local_threads(*, cores: int, workers: int, in_worker_cluster: bool) -> int:
    """Threads for the embedded model in one process when LOCAL_THREADS is unset.

    A worker cluster runs `workers` processes that may all call the model at once, so each gets its share of
    the cores: oversubscribed, their threads wait on each other (three processes on two cores once took 14 s
    for a call that takes 0.1 s alone). A command or a web process runs one model at a time and gets them all.
    """
    share = cores // workers if in_worker_cluster else cores
    return max(1, min(share, MAX_DEFAULT_LOCAL_THREADS))


def load_env_settings(**overrides: object) -> EnvSettings:
    """Read the environment, turning pydantic's error into one readable message per bad variable.

    With SECRETS_DIR set (Docker or Kubernetes secrets, e.g. /run/secrets), a file there named like a variable
    (`HF_TOKEN`, `SECRET_KEY`, …) supplies its value, so credentials need not sit in the process environment;
    a variable that is set wins over its file.
    """
    secrets_dir = os.environ.get("SECRETS_DIR")
    if secrets_dir and "_secrets_dir" not in overrides:
        if not Path(secrets_dir).is_dir():
            raise ConfigurationError(f"PromptOpt cannot start: SECRETS_DIR {secrets_dir} is not a folder.")
        overrides["_secrets_dir"] = secrets_dir
    try:
        return EnvSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from None
