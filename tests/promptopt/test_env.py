"""The typed environment: defaults, parsing, clear refusals of bad values, and generated secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from promptopt.env import BASE_DIR, ConfigurationError, EnvSettings, default_local_threads, load_env_settings

VARIABLES = [name for name in EnvSettings.model_fields]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def load(**values):
    return load_env_settings(_env_file=None, **values)


def test_it_defaults_to_embedded_services_with_debug_off():
    env = load()
    assert (env.DEBUG, env.DATABASE_URL, env.REDIS_URL, env.LOG_FORMAT) == (False, None, None, "text")


def test_it_reads_comma_separated_hosts_from_the_environment(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "promptopt.example.com, api.example.com")
    assert load().ALLOWED_HOSTS == ["promptopt.example.com", "api.example.com"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://root@localhost/db", "DATABASE_URL: Value error, must start with one of postgres://"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL: Value error, must start with one of redis://"),
        ("DEBUG", "perhaps", "DEBUG: Input should be a valid boolean"),
        ("SECRET_KEY", "short", "SECRET_KEY: Value error, must be at least 32 characters"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: Input should be 'text' or 'json'"),
        ("WORKERS", "0", "WORKERS: Input should be greater than or equal to 1"),
        ("CSRF_TRUSTED_ORIGINS", "example.com", "CSRF_TRUSTED_ORIGINS: Value error, 'example.com' must start with"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432", "DATABASE_URL: Value error, names no database"),
        ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE: Value error, 'Mars/Olympus' is not a known time zone"),
    ],
)
def test_it_refuses_a_bad_value_naming_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError) as caught:
        load()

    assert message in str(caught.value)


def test_it_refuses_a_jwt_key_equal_to_the_secret_key(monkeypatch):
    key = "k" * 40
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("JWT_SIGNING_KEY", key)

    with pytest.raises(ConfigurationError, match="JWT_SIGNING_KEY must differ from SECRET_KEY"):
        load()


def test_it_generates_each_missing_secret_once_and_keeps_it(tmp_path: Path):
    env = load(DATA_DIR=tmp_path)

    first = {name: env.secret(name) for name in ("SECRET_KEY", "JWT_SIGNING_KEY", "API_KEY_PEPPER")}
    again = {name: load(DATA_DIR=tmp_path).secret(name) for name in first}

    assert first == again
    assert len(set(first.values())) == 3 and all(len(value) >= 32 for value in first.values())
    assert oct((tmp_path / "secrets" / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_it_prefers_a_configured_secret_over_a_generated_one(tmp_path: Path):
    env = load(DATA_DIR=tmp_path, API_KEY_PEPPER="p" * 40)
    assert env.secret("API_KEY_PEPPER") == "p" * 40


def test_it_stops_manage_py_with_a_readable_message_on_a_bad_value():
    environment = {**os.environ, "DATABASE_URL": "mysql://nope", "LOG_LEVEL": "LOUD"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=environment, capture_output=True, text=True
    )

    assert result.returncode == 2
    assert "DATABASE_URL: Value error" in result.stderr and "LOG_LEVEL:" in result.stderr
    assert "Traceback" not in result.stderr


def test_it_refuses_a_data_dir_it_cannot_write(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")

    with pytest.raises(ConfigurationError, match=r"DATA_DIR .* is not a writable folder"):
        load(DATA_DIR=blocker / "var").ensure_data_dir()


def test_it_turns_on_secure_cookies_only_when_served_over_https(monkeypatch):
    environment = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    code = "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"

    def cookie_flags(https: str) -> str:
        result = subprocess.run(  # noqa: S603 - fixed argument list
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
            cwd=BASE_DIR,
            env={**environment, "HTTPS": https},
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    assert cookie_flags("false") == "False False"
    assert cookie_flags("true") == "True True"


def test_it_reads_credentials_from_files_in_secrets_dir(tmp_path: Path, monkeypatch):
    (tmp_path / "HF_TOKEN").write_text("hf_from_a_file_0123456789\n", encoding="utf-8")
    (tmp_path / "METRICS_TOKEN").write_text("metrics-token-from-a-file", encoding="utf-8")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("METRICS_TOKEN", "metrics-token-from-the-environment")

    env = load()

    assert env.HF_TOKEN is not None and env.HF_TOKEN.get_secret_value() == "hf_from_a_file_0123456789"
    assert env.METRICS_TOKEN is not None
    assert env.METRICS_TOKEN.get_secret_value() == "metrics-token-from-the-environment"  # the variable wins
    assert "hf_from_a_file" not in repr(env)  # secrets print as stars


def test_it_refuses_a_secrets_dir_that_is_not_a_folder(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path / "missing"))

    with pytest.raises(ConfigurationError, match=r"SECRETS_DIR .* is not a folder"):
        load()


@pytest.mark.parametrize(
    ("cores", "workers", "in_worker_cluster", "threads"),
    [
        (2, 2, True, 1),  # two worker processes on two cores: one thread each, never four threads on two cores
        (2, 1, True, 2),
        (8, 3, True, 2),
        (2, 4, True, 1),  # more workers than cores: still one thread each
        (2, 2, False, 2),  # a command (optimize, evaluate) or the web process: one model at a time
        (64, 2, False, 4),  # capped: a 135M model gains nothing from dozens of threads
    ],
)
def test_it_sizes_the_embedded_models_threads_to_the_cores(cores, workers, in_worker_cluster, threads):
    assert default_local_threads(cores=cores, workers=workers, in_worker_cluster=in_worker_cluster) == threads


def test_a_configured_thread_count_wins(monkeypatch):
    monkeypatch.setenv("LOCAL_THREADS", "3")
    assert load().LOCAL_THREADS == 3
