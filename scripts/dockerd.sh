#!/usr/bin/env bash
# Starts a Docker engine for promkit's tests and tools only when none answers, and stops only
# the engine this script started. Idempotent and safe to call from parallel test sessions.
#
#   scripts/dockerd.sh start    prints "started (pid N)", "running (started by this script,
#                               pid N)" or "running (not started by this script)"; exit 0
#                               once `docker info` answers, 1 on failure (log tail on stderr)
#   scripts/dockerd.sh stop     stops the dockerd this script started; otherwise does nothing
#   scripts/dockerd.sh status   exit 0 if an engine answers, 3 if not
#
# The engine runs as `dockerd --storage-driver=vfs --iptables=false --bridge=none`: no kernel
# overlay or iptables needed, and no bridge network, so containers must use `--network none`.
# Environment: PROMKIT_DOCKERD_STATE_DIR (default /tmp/promkit-dockerd: pid file, log, lock),
# PROMKIT_DOCKERD_TIMEOUT (readiness deadline in seconds, default 60), DOCKER_HOST (honoured
# by `docker info`; the engine started here listens on the default unix:///var/run/docker.sock).
set -euo pipefail

STATE_DIR="${PROMKIT_DOCKERD_STATE_DIR:-/tmp/promkit-dockerd}"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
TIMEOUT="${PROMKIT_DOCKERD_TIMEOUT:-60}"

engine_answers() {
    if command -v docker >/dev/null 2>&1; then
        docker info >/dev/null 2>&1
    else
        curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1
    fi
}

# The pid from the state file, if that process is still the dockerd we started.
our_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "dockerd" ] || return 1
    echo "$pid"
}

# Alive and not a zombie (an exited child of this shell stays a zombie until reaped).
alive() {
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != "Z" ]
}

lock() {
    mkdir -p "$STATE_DIR"
    exec 9>"$STATE_DIR/lock"
    flock 9
}

wait_ready() {
    local pid="$1" deadline=$((SECONDS + TIMEOUT))
    while ! engine_answers; do
        if ! alive "$pid"; then
            echo "error: dockerd exited during startup; last log lines:" >&2
            tail -n 20 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "error: dockerd (pid $pid) not ready after ${TIMEOUT}s; see $LOG_FILE" >&2
            tail -n 20 "$LOG_FILE" >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

start() {
    lock
    local pid
    if pid="$(our_pid)"; then
        wait_ready "$pid"
        echo "running (started by this script, pid $pid)"
        return 0
    fi
    rm -f "$PID_FILE"
    if engine_answers; then
        echo "running (not started by this script)"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        echo "error: dockerd not found (run scripts/install-system-deps.sh)" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: no Docker engine answers and starting dockerd needs root" >&2
        return 1
    fi
    # fd 9 (the lock) must not leak into dockerd, or the lock would live as long as it does.
    setsid dockerd --storage-driver=vfs --iptables=false --bridge=none \
        >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_ready "$pid"
    echo "started (pid $pid)"
}

stop() {
    lock
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PID_FILE"
        echo "nothing to stop (no dockerd started by this script)"
        return 0
    fi
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$PID_FILE"
    echo "stopped (pid $pid)"
}

status() {
    if engine_answers; then
        local pid
        if pid="$(our_pid)"; then
            echo "running (started by this script, pid $pid)"
        else
            echo "running (not started by this script)"
        fi
        return 0
    fi
    echo "not running"
    return 3
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
