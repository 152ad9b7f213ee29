"""``promkit volume``: encrypted, streaming backups of Docker volumes to a directory, S3 or GCS."""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from promkit.core.console import print_json, stderr
from promkit.core.errors import ConflictError, UsageError
from promkit.volume import reports
from promkit.volume.archive import Compression
from promkit.volume.backup import BackupRequest, run_backup
from promkit.volume.engine import connect, list_volumes
from promkit.volume.legacy import DVOM_MAGIC
from promkit.volume.names import Ref, check_name, parse_ref
from promkit.volume.restore import RestorePlan, RestoreRequest, run_legacy_restore, run_restore
from promkit.volume.retention import RetentionPolicy, parse_span
from promkit.volume.settings import RepoSpec, password_available, read_password
from promkit.volume.verify import verify_version

app = typer.Typer(
    help="Back up and restore Docker volumes: streaming, zstd, AES-256-GCM, local/S3/GCS.\n\n"
    "Examples:\n\n"
    "  promkit volume backup --volume pgdata --name db --encrypt\n\n"
    "  promkit volume restore --snapshot db --target-volume pgdata --force\n\n"
    "  promkit volume list --repo s3://bucket/backups --json",
    no_args_is_help=True,
)

Repo = Annotated[
    str | None,
    typer.Option(
        "--repo",
        help="Repository URL: a directory, s3://b/p or gs://b/p [env PROMKIT_VOLUME_REPO].",
    ),
]
StorageKind = Annotated[str | None, typer.Option("--storage", help="DVOM style: local, s3 or gcs.")]
BackupDir = Annotated[str | None, typer.Option("--backup-dir", help="Local repository directory.")]
S3Bucket = Annotated[str | None, typer.Option("--s3-bucket")]
S3Region = Annotated[str | None, typer.Option("--s3-region", help="Default: AWS_REGION.")]
S3Endpoint = Annotated[
    str | None,
    typer.Option("--s3-endpoint-url", "--s3-endpoint", help="S3-compatible endpoint URL "
                 "(default: AWS_ENDPOINT_URL_S3)."),
]  # fmt: skip
S3Profile = Annotated[
    str | None,
    typer.Option(
        "--s3-profile", help="AWS shared config/credentials profile (default: AWS_PROFILE)."
    ),
]
S3AccessKeyId = Annotated[
    str | None,
    typer.Option("--s3-access-key-id", help="S3 access key id; its secret comes from "
                 "--s3-secret-access-key-file, AWS_SECRET_ACCESS_KEY or --s3-profile."),
]  # fmt: skip
S3SecretFile = Annotated[
    str | None,
    typer.Option("--s3-secret-access-key-file", help="File whose first line is the S3 secret "
                 "access key (never given on the command line)."),
]  # fmt: skip
ArgvS3Secret = Annotated[str | None, typer.Option("--s3-secret-access-key", hidden=True)]
GcsBucket = Annotated[str | None, typer.Option("--gcs-bucket")]
GcsCreds = Annotated[str | None, typer.Option("--gcs-creds", help="Service-account JSON file.")]
GcsProject = Annotated[str | None, typer.Option("--gcs-project")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
PasswordFile = Annotated[
    str | None,
    typer.Option(
        "--password-file",
        help="File whose first line is the password "
        "[env PROMKIT_VOLUME_PASSWORD_FILE, PROMKIT_VOLUME_PASSWORD].",
    ),
]
ArgvPassword = Annotated[str | None, typer.Option("--password", hidden=True)]
StopContainers = Annotated[
    list[str] | None,
    typer.Option(
        "--stop-containers",
        help="Containers to stop while the volume is read or "
        "replaced: names, IDs, label=K=V, or auto (all that mount it). Repeatable.",
    ),
]
HelperImage = Annotated[
    str | None, typer.Option("--helper-image", help="Local image for helper containers.")
]


_SPEC = RepoSpec()  # placeholder default; with_repository passes the real one

_REPO_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("repo", Repo), ("storage", StorageKind), ("backup_dir", BackupDir),
    ("s3_bucket", S3Bucket), ("s3_region", S3Region), ("s3_endpoint", S3Endpoint),
    ("s3_profile", S3Profile), ("s3_access_key_id", S3AccessKeyId),
    ("s3_secret_access_key_file", S3SecretFile), ("s3_secret_access_key", ArgvS3Secret),
    ("gcs_bucket", GcsBucket), ("gcs_creds", GcsCreds), ("gcs_project", GcsProject),
)  # fmt: skip


def with_repository(func: Callable[..., None]) -> Callable[..., None]:
    """Give a command the repository options (``--repo``, DVOM's ``--storage`` flags, S3 and
    GCS settings) and call it with ``spec: RepoSpec`` built from them."""
    signature = inspect.signature(func, eval_str=True)  # typer needs real annotations
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint)
        for name, hint in _REPO_OPTIONS
    ]
    params = [p for p in signature.parameters.values() if p.name != "spec"]

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name, None) for name, _ in _REPO_OPTIONS}
        if given.pop("s3_secret_access_key") is not None:
            raise UsageError(
                "S3 secret keys are never taken from the command line (they leak into ps "
                "and history)",
                hint="Use --s3-secret-access-key-file PATH, AWS_SECRET_ACCESS_KEY or --s3-profile.",
            )
        func(*args, spec=RepoSpec(**given), **kwargs)

    command.__signature__ = signature.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{k: v for k, v in func.__annotations__.items() if k != "spec"},
        **dict(_REPO_OPTIONS),
    }
    return command


def _no_argv_password(value: str | None) -> None:
    if value is not None:
        raise UsageError(
            "passwords are never taken from the command line (they leak into ps and history)",
            hint="Use PROMKIT_VOLUME_PASSWORD, --password-file, or type it at the prompt.",
        )


def _say(message: str) -> None:
    stderr.print(escape(message))


@contextlib.contextmanager
def _progress(label: str, total: int | None) -> Iterator[Any]:
    """A rich bar (bytes, speed, ETA when the total is known) on a TTY; else one summary line."""
    done = [0]
    start = time.monotonic()
    if stderr.is_terminal:
        bar = Progress(
            TextColumn(f"{escape(label)}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
        )
        with bar:
            task = bar.add_task(label, total=total)

            def advance(n: int) -> None:
                done[0] += n
                bar.update(task, advance=n)

            yield advance
    else:

        def count(n: int) -> None:
            done[0] += n

        yield count
    seconds = max(time.monotonic() - start, 1e-6)
    stderr.print(
        f"{label}: {reports.human(done[0])} in {seconds:.1f}s "
        f"({reports.human(int(done[0] / seconds))}/s)"
    )


@app.command()
@with_repository
def backup(
    volume: Annotated[str, typer.Option("--volume", help="Docker volume to back up.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Backup name.")],
    encrypt: Annotated[bool | None, typer.Option("--encrypt/--no-encrypt", help="Encrypt "
                       "(default: when a password is given by file or env).")] = None,
    compression: Annotated[str, typer.Option("--compression", help="zstd or gzip.")] = "zstd",
    stop_containers: StopContainers = None,
    helper_image: HelperImage = None,
    password_file: PasswordFile = None,
    password: ArgvPassword = None,
    json: Json = False,
    spec: RepoSpec = _SPEC,
) -> None:  # fmt: skip
    """Back up a volume as a new version of NAME (tar -> zstd -> AES-256-GCM -> storage)."""
    _no_argv_password(password)
    check_name(name)
    if compression not in ("zstd", "gzip"):
        raise UsageError(f"unknown compression {compression!r}", hint="Use zstd or gzip.")
    want = encrypt if encrypt is not None else password_available(password_file)
    secret = read_password(password_file, prompt=want, confirm=True) if want else None
    if want and secret is None:
        raise UsageError(
            "--encrypt needs a password",
            hint="Set PROMKIT_VOLUME_PASSWORD, use --password-file, or run on a terminal.",
        )
    repository = spec.open()
    client = connect()
    comp: Compression = "gzip" if compression == "gzip" else "zstd"
    req = BackupRequest(volume, name, comp, secret, tuple(stop_containers or ()), helper_image)
    with _progress(f"backup {volume}", None) as advance:
        manifest = run_backup(client, repository, req, progress=advance, log=_say)
    if json:
        print_json(manifest.model_dump(mode="json"))
    else:
        typer.echo(manifest.id)


@app.command()
@with_repository
def restore(
    target_volume: Annotated[str, typer.Option("--target-volume", help="Volume to replace.")],
    snapshot: Annotated[str | None, typer.Option("--snapshot", "-s", help="NAME, NAME@latest "
                        "or NAME@VERSION.")] = None,
    legacy_dvom: Annotated[Path | None, typer.Option("--legacy-dvom", help="Restore a DVOM "
                           "backup file (<id>.tar.gz, plain or DVOM-ENC v1) instead.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Version of NAME.")] = None,
    create_volume: Annotated[bool, typer.Option("--create-volume", help="Create the target "
                             "volume if missing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty target without "
                     "asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the version, password and "
                       "target; change nothing.")] = False,
    stop_containers: StopContainers = None,
    helper_image: HelperImage = None,
    password_file: PasswordFile = None,
    password: ArgvPassword = None,
    json: Json = False,
    spec: RepoSpec = _SPEC,
) -> None:  # fmt: skip
    """Restore a version into a volume: verified in a staging volume before the target changes."""
    _no_argv_password(password)
    if (snapshot is None) == (legacy_dvom is None):
        raise UsageError("give exactly one of --snapshot and --legacy-dvom")

    def request(ref: Ref, secret: SecretStr | None) -> RestoreRequest:
        return RestoreRequest(ref, target_volume, secret, create_volume, force, dry_run,
                              tuple(stop_containers or ()), helper_image)  # fmt: skip

    if legacy_dvom is not None:
        secret = read_password(password_file, prompt=_is_dvom_encrypted(legacy_dvom))
        req = request(Ref("dvom"), secret)
        with _progress(f"restore {legacy_dvom.name}", legacy_dvom.stat().st_size) as advance:
            plan = run_legacy_restore(connect(), legacy_dvom, req, confirm=_confirm,
                                      progress=advance, log=_say)  # fmt: skip
    else:
        assert snapshot is not None
        ref = parse_ref(snapshot, version)
        repository = spec.open()
        manifest = repository.resolve(ref)
        secret = read_password(password_file, prompt=True) if manifest.encrypted else None
        req = request(ref, secret)
        with _progress(f"restore {manifest.id}", manifest.stored_size) as advance:
            plan = run_restore(connect(), repository, req, confirm=_confirm, progress=advance,
                               log=_say)  # fmt: skip
    if json:
        print_json(reports.restore_plan(plan, dry_run))
    elif dry_run:
        typer.echo(reports.restore_plan_text(plan))
    else:
        typer.echo(f"restored {plan.backup_id} into {plan.target}")


def _is_dvom_encrypted(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(DVOM_MAGIC)) == DVOM_MAGIC
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _confirm(plan: RestorePlan) -> bool:
    if not sys.stdin.isatty():
        raise ConflictError(
            f"target volume {plan.target!r} is not empty and --force was not given; "
            "nothing was changed",
            hint="Pass --force to replace its contents.",
        )
    return typer.confirm(
        f"Replace ALL contents of volume {plan.target!r} with {plan.backup_id}?", default=False
    )


@app.command("list")
@with_repository
def list_(
    json: Json = False,
    spec: RepoSpec = _SPEC,
) -> None:  # fmt: skip
    """List backup names with their latest version, size, count and encryption."""
    summaries = spec.open().summaries()
    if json:
        print_json([reports.summary(s) for s in summaries])
    else:
        typer.echo(reports.summaries_text(summaries))


@app.command()
@with_repository
def versions(
    name: Annotated[str, typer.Argument(help="Backup name.")],
    json: Json = False,
    spec: RepoSpec = _SPEC,
) -> None:  # fmt: skip
    """List the versions of NAME, newest first."""
    manifests = spec.open().versions(check_name(name))
    if not manifests:
        from promkit.core.errors import NotFoundError

        raise NotFoundError(f"no versions found for backup {name!r}")
    if json:
        print_json([m.model_dump(mode="json") for m in manifests])
    else:
        typer.echo(reports.versions_text(manifests))


@app.command()
@with_repository
def info(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION.")],
    json: Json = False,
    spec: RepoSpec = _SPEC,
) -> None:  # fmt: skip
    """Show one version's manifest (no data is read)."""
    repository = spec.open()
    manifest = repository.resolve(parse_ref(ref))
    count = len(repository.version_ids(manifest.name))
    if json:
        print_json({**manifest.model_dump(mode="json"), "version_count": count})
    else:
        typer.echo(reports.info_text(manifest, count))


@app.command()
@with_repository
def verify(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION; with --all every version.")],
    all_versions: Annotated[bool, typer.Option("--all", help="Verify every version.")] = False,
    password_file: PasswordFile = None,
    json: Json = False,
    spec: RepoSpec = _SPEC,
) -> None:  # fmt: skip
    """Read a version completely: decrypt, decompress, check sizes, SHA-256 and the tar."""
    repository = spec.open()
    parsed = parse_ref(ref)
    targets = repository.versions(parsed.name) if all_versions else [repository.resolve(parsed)]
    secret = None
    if any(m.encrypted for m in targets):
        secret = read_password(password_file, prompt=True)
    results = []
    for manifest in targets:
        with _progress(f"verify {manifest.id}", manifest.stored_size) as advance:
            results.append(verify_version(repository, manifest, secret, progress=advance))
    if json:
        print_json([r.as_dict() for r in results])
    else:
        for r in results:
            typer.echo(f"ok {r.id}: {r.entries} entries, {reports.human(r.tar_size)} verified")


@app.command()
@with_repository
def delete(
    name: Annotated[str, typer.Argument(help="NAME or NAME@VERSION.")],
    version: Annotated[str | None, typer.Option("--version", help="Only this version.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Do not ask.")] = False,
    spec: RepoSpec = _SPEC,
) -> None:  # fmt: skip
    """Delete one version, or every version of NAME."""
    repository = spec.open()
    ref = parse_ref(name, version)
    if ref.version:
        targets = [repository.manifest(ref.name, ref.version).version]
    else:
        targets = repository.version_ids(ref.name)
        if not targets:
            from promkit.core.errors import NotFoundError

            raise NotFoundError(f"no backups named {ref.name!r} in {repository.url}")
    what = (
        f"{ref.name}@{targets[0]}"
        if ref.version
        else f"ALL {len(targets)} version(s) of {ref.name!r}"
    )
    _require_consent(force, f"Permanently delete {what}?")
    for v in targets:
        repository.delete_version(ref.name, v)
        _say(f"deleted {ref.name}@{v}")


def _require_consent(force: bool, question: str) -> None:
    if force:
        return
    if not sys.stdin.isatty():
        raise ConflictError(
            "refusing a destructive action without --force (no terminal to ask)",
            hint="Pass --force.",
        )
    if not typer.confirm(question, default=False):
        from promkit.core.errors import CanceledError

        raise CanceledError("canceled; nothing was deleted")


@app.command()
@with_repository
def prune(
    name: Annotated[str | None, typer.Argument(help="Backup name (default: every name).")] = None,
    keep_last: Annotated[int, typer.Option("--keep-last", help="Keep the newest N.")] = 0,
    keep_hourly: Annotated[int, typer.Option("--keep-hourly", help="Keep the newest version "
                           "of each of the last N hours (UTC) that have versions.")] = 0,
    keep_daily: Annotated[int, typer.Option("--keep-daily", help="... of the last N days.")] = 0,
    keep_weekly: Annotated[int, typer.Option("--keep-weekly", help="... of the last N ISO "
                           "weeks.")] = 0,
    keep_monthly: Annotated[int, typer.Option("--keep-monthly", help="... of the last N "
                            "months.")] = 0,
    keep_yearly: Annotated[int, typer.Option("--keep-yearly", help="... of the last N "
                           "years.")] = 0,
    keep_within: Annotated[str | None, typer.Option("--keep-within", help="e.g. 7d, 6m.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would go.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Do not ask.")] = False,
    json: Json = False,
    spec: RepoSpec = _SPEC,
) -> None:  # fmt: skip
    """Delete versions that no --keep-* rule keeps (restic's semantics)."""
    policy = RetentionPolicy(
        keep_last=keep_last,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        keep_monthly=keep_monthly,
        keep_within=parse_span(keep_within) if keep_within else None,
        keep_hourly=keep_hourly,
        keep_yearly=keep_yearly,
    )
    policy.check()
    repository = spec.open()
    names = [check_name(name)] if name else repository.names()
    plans = [repository.plan_prune(n, policy) for n in names]
    doomed = sum(1 for p in plans for d in p.decisions if not d.keep)
    if not dry_run and doomed:
        _require_consent(force, f"Delete {doomed} version(s)?")
        for plan in plans:
            repository.apply_prune(plan)
    if json:
        print_json([reports.prune_plan(p, dry_run) for p in plans])
    else:
        typer.echo(reports.prune_text(plans, dry_run))


@app.command()
def volumes(json: Json = False) -> None:
    """Docker volumes with their size and the containers that use them."""
    infos = list_volumes(connect())
    if json:
        print_json([reports.volume(v) for v in infos])
    else:
        typer.echo(reports.volumes_text(infos))
