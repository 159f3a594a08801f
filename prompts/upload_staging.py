"""Uploaded dataset files kept between the web UI's two upload steps (preview and mapping, then import).

The file is written under UPLOAD_STAGING_DIR with a random token, next to a small record of who uploaded it
for which team; only that person, in that team, can import or discard it. Staged files are removed after
the import and, if abandoned, a day later (swept whenever someone stages a new one).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from promptopt.errors import NotFoundError

STAGED_FOR_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StagedUpload:
    token: str
    file_name: str
    dataset_name: str
    delimiter: str
    content: bytes


def _folder() -> Path:
    folder = Path(settings.UPLOAD_STAGING_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sweep(folder: Path) -> None:
    cutoff = time.time() - STAGED_FOR_SECONDS
    for path in folder.glob("*.json"):
        if path.stat().st_mtime < cutoff:
            path.with_suffix(".upload").unlink(missing_ok=True)
            path.unlink(missing_ok=True)


def upload_stage(
    *, team_id: int, user_id: int, file_name: str, dataset_name: str, delimiter: str, content: bytes
) -> str:
    """Keep the file for the next step; the token names it."""
    folder = _folder()
    _sweep(folder)
    token = secrets.token_hex(16)
    (folder / f"{token}.upload").write_bytes(content)
    record = {
        "team": team_id,
        "user": user_id,
        "file_name": file_name,
        "dataset_name": dataset_name,
        "delimiter": delimiter,
    }
    # The record is written last: a token whose record exists always has its file.
    (folder / f"{token}.json").write_text(json.dumps(record), encoding="utf-8")
    return token


def upload_staged(*, token: str, team_id: int, user_id: int) -> StagedUpload:
    """The staged file, if this person staged it for this team and it has not expired or been imported."""
    gone = NotFoundError("this upload is no longer available (it was imported, or is over a day old); upload again")
    if not _TOKEN.match(token):
        raise gone
    folder = _folder()
    try:
        record = json.loads((folder / f"{token}.json").read_text(encoding="utf-8"))
        content = (folder / f"{token}.upload").read_bytes()
    except FileNotFoundError:
        raise gone from None
    if (record["team"], record["user"]) != (team_id, user_id):
        raise gone
    return StagedUpload(token, record["file_name"], record["dataset_name"], record["delimiter"], content)


def upload_discard(*, token: str) -> None:
    if _TOKEN.match(token):
        folder = _folder()
        (folder / f"{token}.json").unlink(missing_ok=True)
        (folder / f"{token}.upload").unlink(missing_ok=True)
