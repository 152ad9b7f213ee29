"""``promkit fire run|plan|cleanup``: the load generator's command line."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from promkit.core.console import print_json, stderr
from promkit.core.errors import UpstreamError, UsageError
from promkit.core.remote_write import SenderStats
from promkit.fire.config import FireConfig, LoadedConfig, TimestampMode, load_config
from promkit.fire.selection import Shard

app = typer.Typer(
    name="fire",
    help="Load-test a TSDB by replicating its real series through remote write.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="fire YAML config (see examples/fire.yaml).")
]
ShardOpt = Annotated[
    str | None,
    typer.Option("--shard", help="Take shard i of n (0-based, e.g. 0/3): n machines share a load."),
]
ModeOpt = Annotated[
    str | None,
    typer.Option("--mode", help="Override timestamps.mode: shift, original, realtime or burst."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]

_MODES = ("shift", "original", "realtime", "burst")


def _load(path: Path) -> LoadedConfig:
    loaded = load_config(path)
    for warning in loaded.warnings:
        stderr.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    level = loaded.config.log_level.upper()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("promkit").setLevel(level)
    # httpx logs every request at INFO: only shown with log_level debug
    logging.getLogger("httpx").setLevel(logging.INFO if level == "DEBUG" else logging.WARNING)
    return loaded


def _mode(value: str | None) -> TimestampMode | None:
    if value is None:
        return None
    if value not in _MODES:
        raise UsageError(f"invalid --mode {value!r}", hint=f"use one of {', '.join(_MODES)}")
    return value  # type: ignore[return-value]


def _shard(value: str | None) -> Shard | None:
    return Shard.parse(value) if value else None


def _runner(config: FireConfig, shard: str | None, mode: str | None) -> Any:
    from promkit.fire.runner import FireRunner, open_source

    return FireRunner(config, open_source(config), shard=_shard(shard), mode=_mode(mode))


@app.command()
def plan(
    config: ConfigOpt, shard: ShardOpt = None, mode: ModeOpt = None, json: JsonOpt = False
) -> None:
    """Estimate series, samples, requests and duration from series counts (no data pulled).

    Example: promkit fire plan -c examples/fire.yaml --shard 0/2
    """
    from promkit.fire.plan import make_plan

    cfg = _load(config).config
    runner = _runner(cfg, shard, mode)
    try:
        result = make_plan(cfg, runner.source, runner.discover(), runner.mode)
    finally:
        runner.source.client.close()
    if json:
        print_json(result.to_dict())
    else:
        typer.echo("\n".join(result.lines()))


@app.command()
def run(
    config: ConfigOpt,
    shard: ShardOpt = None,
    mode: ModeOpt = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the summary as JSON here.")
    ] = None,
    json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print the plan (as `fire plan`); send nothing.")
    ] = False,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            max=64,
            help="Local worker processes (one shard each, the rate split between them).",
        ),
    ] = 1,
) -> None:
    """Replicate the selected series into the target and print a summary.

    Exits non-zero when the share of failed samples passes report.max_failure_ratio or
    when everything failed. Ctrl-C lets in-flight requests finish and prints the summary.

    Example: promkit fire run -c examples/fire.yaml --report report.json
    """
    from promkit.fire.report import (
        outcome_error,
        progress_line,
        report_dict,
        summary_lines,
        write_report,
    )

    if dry_run:
        plan(config, shard=shard, mode=mode, json=json)
        return
    if processes > 1:
        _run_processes(config, processes, shard, mode, report, json)
        return
    cfg = _load(config).config
    runner = _runner(cfg, shard, mode)
    disc = runner.discover()
    stderr.print(
        f"fire: {len(disc.selection.selected)} series x {len(disc.combinations)} replicas -> "
        f"{cfg.target.url} (mode {runner.mode}, rate "
        f"{cfg.rate.samples_per_second or 'unlimited'} samples/s)",
        soft_wrap=True,
        markup=False,
    )

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)

    live = Live(console=stderr, transient=True) if stderr.is_terminal and not quiet else None

    def progress(stats: SenderStats) -> None:
        if live is not None:  # one line updated in place on a terminal
            live.update(Text(progress_line(stats)))
        else:
            stderr.print(progress_line(stats), soft_wrap=True, markup=False)

    try:
        if live is not None:
            live.start()
        result = runner.run(disc, progress=None if quiet else progress)
    finally:
        if live is not None:
            live.stop()
        signal.signal(signal.SIGTERM, previous)
        runner.source.client.close()
    doc = report_dict(
        result, target=cfg.target.url, shard=shard, rate_limit=cfg.rate.samples_per_second
    )
    if report is not None:
        write_report(doc, report)
    if json:
        print_json(doc)
    else:
        typer.echo("\n".join(summary_lines(doc)))
    if result.source_error is not None:
        raise result.source_error
    error = outcome_error(doc, cfg.report.max_failure_ratio)
    if error is not None:
        raise error


def _run_processes(
    config: Path,
    processes: int,
    shard: str | None,
    mode: str | None,
    report: Path | None,
    json: bool,
) -> None:
    from promkit.fire.parallel import merge_reports, run_children
    from promkit.fire.report import outcome_error, summary_lines, write_report

    cfg = _load(config).config
    if cfg.selection.max_metrics is not None or cfg.selection.max_series is not None:
        raise UsageError(
            "--processes cannot be combined with selection.max_metrics/max_series "
            "(each process would apply the cap to its own shard)",
            hint="drop the caps or run with --processes 1",
        )
    stderr.print(f"fire: {processes} processes", soft_wrap=True, markup=False)
    reports = run_children(
        config, processes, shard=_shard(shard), mode=_mode(mode), rate=cfg.rate.samples_per_second
    )
    doc = merge_reports(reports, shard=shard)
    if report is not None:
        write_report(doc, report)
    if json:
        print_json(doc)
    else:
        typer.echo("\n".join(summary_lines(doc)))
    if doc["source_error"]:
        raise UpstreamError(f"reading the source failed: {doc['source_error']}")
    error = outcome_error(doc, cfg.report.max_failure_ratio)
    if error is not None:
        raise error


@app.command()
def cleanup(
    config: ConfigOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count the replica series that would go.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    json: JsonOpt = False,
) -> None:
    """Delete the replicas this config writes (series carrying its replication labels).

    VictoriaMetrics deletes through /api/v1/admin/tsdb/delete_series; Prometheus needs
    --web.enable-admin-api for the same endpoint.

    Example: promkit fire cleanup -c examples/fire.yaml --dry-run
    """
    from promkit.fire.cleanup import cleanup as do_cleanup
    from promkit.fire.replication import replicas_selector

    cfg = _load(config).config
    if not dry_run and not yes:
        selector = replicas_selector(cfg.replication)
        if not sys.stdin.isatty():
            raise UsageError(
                f"cleanup deletes every series matching {selector} on {cfg.target.url}",
                hint="pass --yes to confirm, or --dry-run to count them first",
            )
        typer.confirm(f"Delete every series matching {selector}?", abort=True)
    result = do_cleanup(cfg, dry_run=dry_run)
    if json:
        print_json(result.__dict__)
    elif dry_run or not result.deleted:
        typer.echo(f"{result.matched_series} series match {result.selector}")
    else:
        remain = (
            f"{result.remaining_series} remain"
            if result.remaining_series is not None
            else "the server drops them from its index at the next head compaction"
        )
        typer.echo(f"deleted {result.matched_series} series matching {result.selector}; {remain}")


__all__ = ["app"]
