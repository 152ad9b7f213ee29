"""Backup throughput of ``promkit volume backup`` against a baseline measured in the same run.

Volume: SIZE of mixed data (half random, half log-like text), made through Docker's archive
API. Baseline (a): ``docker cp helper:/data - | zstd -3 -q -o out.zst`` (the volume streamed
out of Docker as a tar and compressed by the zstd CLI). Ours (b): ``promkit volume backup
--encrypt`` into a local repository (default scrypt cost). Prints ``ratio=<b/a throughput>``
(target >= 0.8) and the peak RSS of (b) for a small and the full volume (target < 150 MB and
not growing with the volume). Both sides are timed from creating their helper container to
removing it. ``--runs N`` interleaves N rounds (the order rotates) and prints the median
ratio with its spread, and the CPU seconds per GiB of each side's own processes and of
dockerd (dockerd's figure includes anything else using the engine meanwhile).
``--baseline-src DIR`` also runs (b) with ``DIR`` first on ``PYTHONPATH`` (e.g.
``git archive <rev> src | tar -x -C DIR``, then ``DIR/src``) to compare two versions of the
code in the same run.

    .venv/bin/python bench/volume_backup.py [--size-mib 1024] [--runs 1]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


def ensure_engine() -> Any:
    subprocess.run(["bash", str(ROOT / "scripts" / "dockerd.sh"), "start"], check=True)
    return docker.from_env(timeout=600)


def mixed_tar(size: int) -> Iterator[bytes]:
    """A tar of ``size`` bytes of files: half random, half unique log-like text, streamed."""
    rng = random.Random(42)
    words = [f"{w}" for w in ("GET", "POST", "/api/v1/query", "200", "404", "ms", "user", "db")]

    def entry(name: str, data: bytes) -> bytes:
        info = tarfile.TarInfo(f"data/{name}")
        info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
        return info.tobuf(tarfile.GNU_FORMAT) + data + b"\0" * (-len(data) % 512)

    half = size // 2
    for i in range(max(1, half // (4 * MIB))):
        yield entry(f"random/{i:05d}.bin", os.urandom(4 * MIB))
    for i in range(max(1, half // MIB)):
        lines = []
        n = 0
        while n < MIB:
            line = (
                f"2026-11-23T12:{i % 60:02d}:{n % 60:02d}.{rng.randrange(1000):03d}Z "
                f"{rng.choice(words)} {rng.choice(words)} id={rng.getrandbits(48):x} "
                f"took={rng.random() * 1000:.3f}{rng.choice(words)}\n"
            )
            lines.append(line)
            n += len(line)
        yield entry(f"logs/{i:05d}.log", "".join(lines).encode())
    yield b"\0" * 1024  # end-of-archive marker


@contextlib.contextmanager
def volume_of(client: Any, size: int) -> Iterator[str]:
    name = f"promkit-bench-{uuid.uuid4().hex[:8]}"
    client.volumes.create(name)
    from promkit.volume.engine import ensure_helper_image

    helper = client.containers.create(
        ensure_helper_image(client), ["never"], volumes={name: {"bind": "/data", "mode": "rw"}},
        network_mode="none",
    )  # fmt: skip
    try:
        helper.put_archive("/", mixed_tar(size))
        yield name
    finally:
        helper.remove(force=True)
        client.volumes.get(name).remove(force=True)


def timed_wait(proc: subprocess.Popen[bytes]) -> tuple[int, float, float]:
    """Exit code, peak RSS (MB) and CPU seconds (user + sys) of exactly this child."""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def dockerd_cpu() -> float:
    """CPU seconds dockerd has used so far (it makes the tar for both pipelines); 0 if unknown."""
    try:
        pid = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
        fields = Path(f"/proc/{pid[0]}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (IndexError, OSError, ValueError):
        return 0.0


@dataclasses.dataclass
class Run:
    seconds: float
    rss_mb: float = 0.0
    cpu_s: float = 0.0  # the pipeline's own processes
    dockerd_cpu_s: float = 0.0


def baseline(client: Any, volume: str, out: Path) -> Run:
    """(a): the volume's tar out of Docker through ``docker cp`` piped into ``zstd -3``.

    Timed like (b): from creating the helper container (``docker cp`` needs one too) to its
    removal, so both sides pay for the same Docker round trips.
    """
    from promkit.volume.engine import ensure_helper_image

    image = ensure_helper_image(client)
    d0 = dockerd_cpu()
    start = time.perf_counter()
    helper = client.containers.create(
        image, ["never"], volumes={volume: {"bind": "/data", "mode": "ro"}}, network_mode="none"
    )
    try:
        cp = subprocess.Popen(["docker", "cp", f"{helper.id}:/data", "-"], stdout=subprocess.PIPE)
        zstd = subprocess.Popen(["zstd", "-3", "-q", "-f", "-o", str(out)], stdin=cp.stdout)
        assert cp.stdout is not None
        cp.stdout.close()
        zrc, _zrss, zcpu = timed_wait(zstd)
        crc, _crss, ccpu = timed_wait(cp)
        if crc != 0 or zrc != 0:
            raise SystemExit("baseline pipeline failed")
    finally:
        helper.remove(force=True)
    return Run(time.perf_counter() - start, cpu_s=zcpu + ccpu, dockerd_cpu_s=dockerd_cpu() - d0)


def ours(volume: str, repo: Path, src: str | None = None) -> Run:
    env = dict(os.environ, PROMKIT_VOLUME_PASSWORD="bench-password")
    env.pop("PROMKIT_TESTONLY_WEAKEN_KDF", None)
    # An installed promkit has its bytecode compiled; without this every run would compile
    # all of promkit's modules from source first (the dev environment sets the variable).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "promkit", "volume", "backup", "--volume", volume,
            "--name", "bench", "--encrypt", "--repo", str(repo)]  # fmt: skip
    d0 = dockerd_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    rc, rss, cpu = timed_wait(proc)
    if rc != 0:
        raise SystemExit(f"promkit volume backup failed with exit code {rc}")
    return Run(time.perf_counter() - start, rss, cpu, dockerd_cpu() - d0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=1, help="interleaved (a, b) pairs")
    parser.add_argument("--baseline-src", help="also run (b) with this src dir first on PYTHONPATH")
    args = parser.parse_args()
    size = args.size_mib * MIB
    gib = size / (1 << 30)
    client = ensure_engine()
    work = Path(tempfile.mkdtemp(prefix="promkit-bench-"))
    try:
        with volume_of(client, size // 4) as small:
            rss_small = ours(small, work / "repo-small").rss_mb
        runs: dict[str, list[Run]] = {"a": [], "b": [], "b_src": []}
        with volume_of(client, size) as vol:
            for i in range(args.runs):
                steps: list[tuple[str, Callable[[], Run]]] = [
                    ("a", functools.partial(baseline, client, vol, work / "base.zst")),
                    ("b", functools.partial(ours, vol, work / f"repo-{i}")),
                ]
                if args.baseline_src:
                    steps.append(
                        (
                            "b_src",
                            functools.partial(ours, vol, work / f"src-{i}", args.baseline_src),
                        )
                    )
                # Rotate the order: the machine is shared and its load drifts.
                steps = steps[i % len(steps) :] + steps[: i % len(steps)]
                for key, step in steps:
                    r = step()
                    runs[key].append(r)
                    print(f"run={i} {key} s={r.seconds:.2f} cpu_s_per_gib={r.cpu_s / gib:.2f} "
                          f"dockerd_cpu_s_per_gib={r.dockerd_cpu_s / gib:.2f} "
                          f"rss_mb={r.rss_mb:.1f}",
                          flush=True)  # fmt: skip
                a, b = runs["a"][-1], runs["b"][-1]
                line = f"run={i} ratio={a.seconds / b.seconds:.3f}"
                if args.baseline_src:
                    line += f" ratio_src={a.seconds / runs['b_src'][-1].seconds:.3f}"
                print(line, flush=True)
        stored = sum(p.stat().st_size for p in (work / "repo-0").rglob("*.data"))
        pairs = list(zip(runs["a"], runs["b"], strict=True))
        ratios = sorted(a.seconds / b.seconds for a, b in pairs)
        base_t = statistics.median(a.seconds for a, _ in pairs)
        ours_t = statistics.median(b.seconds for _, b in pairs)
        mb = size / 1e6
        print(f"volume_mib={args.size_mib}")
        cpu_a = statistics.median(a.cpu_s for a, _ in pairs) / gib
        cpu_b = statistics.median(b.cpu_s for _, b in pairs) / gib
        print(f"baseline_docker_cp_zstd3_s={base_t:.2f} baseline_MBps={mb / base_t:.1f} "
              f"baseline_out_MB={(work / 'base.zst').stat().st_size / 1e6:.1f} "
              f"baseline_cpu_s_per_gib={cpu_a:.2f}")  # fmt: skip
        print(f"promkit_backup_encrypted_s={ours_t:.2f} promkit_MBps={mb / ours_t:.1f} "
              f"promkit_out_MB={stored / 1e6:.1f} "
              f"promkit_cpu_s_per_gib={cpu_b:.2f}")  # fmt: skip
        print(f"peak_rss_mb_small={rss_small:.1f} "
              f"peak_rss_mb_full={max(b.rss_mb for _, b in pairs):.1f}")  # fmt: skip
        if args.baseline_src:
            src_ratios = sorted(
                a.seconds / c.seconds for a, c in zip(runs["a"], runs["b_src"], strict=True)
            )
            print(
                f"ratio_src={statistics.median(src_ratios):.3f} "
                f"ratio_src_min={src_ratios[0]:.3f} ratio_src_max={src_ratios[-1]:.3f}"
            )
        print(f"ratio_min={ratios[0]:.3f} ratio_max={ratios[-1]:.3f}")
        print(f"ratio={statistics.median(ratios):.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
