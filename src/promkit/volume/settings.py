"""Where the repository is and where the password comes from (flags -> env -> defaults).

Repository: ``--repo URL`` or ``PROMKIT_VOLUME_REPO``; DVOM's ``--storage local|s3|gcs``
with ``--backup-dir`` / ``--s3-bucket`` / ``--gcs-bucket`` still work; otherwise a local
directory under the user's data dir. S3: endpoint, region and credentials come from the
standard AWS settings (env, shared config/credentials files, ``AWS_PROFILE``) unless
``--s3-endpoint-url``, ``--s3-region``, ``--s3-profile`` or ``--s3-access-key-id`` say
otherwise; a secret key never comes from argv, only from ``--s3-secret-access-key-file``,
``AWS_SECRET_ACCESS_KEY`` or the profile. Password: ``--password-file``,
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
AWS_SECRET_ENV = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name


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
    s3_profile: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key_file: str | None = None

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

    def options(self, *, s3: bool = False) -> StorageOptions:
        """Storage settings; with ``s3`` the credentials given by flags are resolved too."""
        key_id, secret = self._s3_credentials() if s3 else (None, None)
        return StorageOptions(
            s3_endpoint_url=self.s3_endpoint,
            s3_region=self.s3_region or os.environ.get("AWS_REGION"),
            s3_access_key=SecretStr(key_id) if key_id else None,
            s3_secret_key=secret,
            s3_profile=self.s3_profile,
            gcs_credentials_file=self.gcs_creds,
            gcs_project=self.gcs_project,
        )

    def _s3_credentials(self) -> tuple[str | None, SecretStr | None]:
        """(access key id, secret) when flags name them; (None, None) leaves the choice to
        the AWS defaults (env, shared files, ``--s3-profile``)."""
        if not self.s3_access_key_id and not self.s3_secret_access_key_file:
            return None, None
        key_id = self.s3_access_key_id or os.environ.get("AWS_ACCESS_KEY_ID")
        if not key_id:
            raise UsageError(
                "--s3-secret-access-key-file needs an access key id",
                hint="Pass --s3-access-key-id or set AWS_ACCESS_KEY_ID.",
            )
        secret = read_secret(env=AWS_SECRET_ENV, file=self.s3_secret_access_key_file)
        if secret is None and self.s3_profile:
            secret = _profile_secret(self.s3_profile)
        if secret is None or not secret.get_secret_value():
            raise UsageError(
                "--s3-access-key-id needs its secret access key, and none was found",
                hint="Pass --s3-secret-access-key-file PATH, set AWS_SECRET_ACCESS_KEY, or "
                "use --s3-profile with a profile that has one (never on the command line).",
            )
        return key_id, secret

    def open(self) -> Repository:
        url = self.url()
        return Repository(open_storage(url, self.options(s3=url.lower().startswith("s3://"))))


def _profile_secret(profile: str) -> SecretStr | None:
    """The secret access key of an AWS shared-config profile (botocore reads the files)."""
    import botocore.exceptions  # type: ignore[import-untyped]
    import botocore.session  # type: ignore[import-untyped]

    try:
        credentials = botocore.session.Session(profile=profile).get_credentials()
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(
            f"AWS profile {profile!r} not found",
            hint="Check ~/.aws/config and ~/.aws/credentials (or AWS_CONFIG_FILE, "
            "AWS_SHARED_CREDENTIALS_FILE).",
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise UsageError(f"cannot read AWS profile {profile!r}: {type(exc).__name__}") from None
    if credentials is None or not credentials.secret_key:
        return None
    return SecretStr(credentials.secret_key)


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
