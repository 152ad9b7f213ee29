"""Where the repository is and where the password comes from (flags -> env -> defaults).

Repository: ``--repo URL`` or ``PROMKIT_VOLUME_REPO``; DVOM's ``--storage local|s3|gcs``
with ``--backup-dir`` / ``--s3-bucket`` / ``--gcs-bucket`` still work; otherwise a local
directory under the user's data dir. Password: ``--password-file``,
``PROMKIT_VOLUME_PASSWORD_FILE``, ``PROMKIT_VOLUME_PASSWORD``, or a prompt on a terminal;
never the command line.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from promkit.core.console import read_secret
from promkit.core.errors import UsageError
from promkit.core.storage import StorageOptions, open_storage
from promkit.volume.repository import Repository

REPO_ENV = "PROMKIT_VOLUME_REPO"
PASSWORD_ENV = "PROMKIT_VOLUME_PASSWORD"  # noqa: S105 - a variable name
PASSWORD_FILE_ENV = "PROMKIT_VOLUME_PASSWORD_FILE"  # noqa: S105 - a variable name


def default_repo_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "promkit" / "volumes"


@dataclass(frozen=True)
class RepoSpec:
    repo: str | None = None
    storage: str | None = None
    backup_dir: str | None = None
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_endpoint: str | None = None
    gcs_bucket: str | None = None
    gcs_creds: str | None = None
    gcs_project: str | None = None

    def url(self) -> str:
        kind = (self.storage or "").lower()
        if self.repo:
            if kind:
                raise UsageError("give either --repo or --storage, not both")
            return self.repo
        if kind in {"", "local"}:
            if self.backup_dir:
                return self.backup_dir
            if not kind and os.environ.get(REPO_ENV):
                return os.environ[REPO_ENV]
            return str(default_repo_dir())
        if kind == "s3":
            if not self.s3_bucket:
                raise UsageError("S3 bucket is required when using S3 storage (--s3-bucket)")
            return f"s3://{self.s3_bucket}"
        if kind == "gcs":
            if not self.gcs_bucket:
                raise UsageError("GCS bucket is required when using GCS storage (--gcs-bucket)")
            return f"gs://{self.gcs_bucket}"
        raise UsageError(f"unsupported storage type: {self.storage}", hint="Use local, s3 or gcs.")

    def options(self) -> StorageOptions:
        return StorageOptions(
            s3_endpoint_url=self.s3_endpoint,
            s3_region=self.s3_region or os.environ.get("AWS_REGION"),
            gcs_credentials_file=self.gcs_creds,
            gcs_project=self.gcs_project,
        )

    def open(self) -> Repository:
        return Repository(open_storage(self.url(), self.options()))


def read_password(
    password_file: str | None, *, prompt: bool, confirm: bool = False
) -> SecretStr | None:
    """The password from a file, the environment or (when ``prompt``) a terminal prompt."""
    file = password_file or os.environ.get(PASSWORD_FILE_ENV)
    secret = read_secret(env=PASSWORD_ENV, file=file)
    if secret is not None:
        if not secret.get_secret_value():
            raise UsageError("the password is empty")
        return secret
    if not prompt or not sys.stdin.isatty():
        return None
    first = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Confirm password: ") != first:
        raise UsageError("passwords do not match")
    if not first:
        raise UsageError("the password is empty")
    return SecretStr(first)


def password_available(password_file: str | None) -> bool:
    return bool(password_file or os.environ.get(PASSWORD_FILE_ENV) or os.environ.get(PASSWORD_ENV))
