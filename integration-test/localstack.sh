#!/usr/bin/env bash
# Run the integration suite against a real LocalStack started on this host,
# without Docker, bound to 127.0.0.1, and always stop it afterwards.
#
#   integration-test/localstack.sh [extra pytest args]
#   integration-test/localstack.sh --serve   # just run LocalStack until Ctrl-C
#
# Needs Python 3.13 (localstack-core 4.14.0's Kinesis fails on 3.12) and npm
# (LocalStack installs its Kinesis backend, kinesis-local, from npm on the first
# Kinesis call). Without them the suite is skipped with the reason - except in
# CI (CI=true), where a missing tool or a LocalStack that does not start fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
LS_VENV=$ROOT/.localstack/venv

skip_or_fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "LocalStack suite: FAILED to run: $1" >&2
    exit 1
  fi
  echo "LocalStack suite: SKIPPED: $1 (set CI=true to make this an error)" >&2
  exit 0
}

find_python313() {
  local candidates=("${PYTHON313:-}")
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.13*/bin/python3.13)
  fi
  candidates+=("$(command -v python3.13 || true)")
  for p in "${candidates[@]}"; do
    # a pyenv shim exists on PATH even when it cannot run: try each one
    if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' \
        >/dev/null 2>&1; then
      echo "$p"; return
    fi
  done
}

PY313=$(find_python313 || true)
[ -n "$PY313" ] || skip_or_fail "no Python 3.13 found (python3.13, pyenv, or PYTHON313=...)"
command -v npm >/dev/null 2>&1 || skip_or_fail "npm not found (LocalStack installs kinesis-local with it)"

stamp=$LS_VENV/.installed-$(cat integration-test/localstack-requirements.txt integration-test/localstack-constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "LocalStack suite: installing localstack-core 4.14.0 into .localstack/venv ..." >&2
  rm -rf "$LS_VENV"
  "$PY313" -m venv "$LS_VENV"
  "$LS_VENV/bin/pip" install --quiet --disable-pip-version-check \
    -r integration-test/localstack-requirements.txt -c integration-test/localstack-constraints.txt
  touch "$stamp"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/localstack-suite.XXXXXX")
mkdir -p "$WORK/fs" "$WORK/config" "$WORK/home"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENDPOINT=http://127.0.0.1:$PORT
LS_PID=

cleanup() {
  status=$?
  if [ -n "$LS_PID" ] && kill -0 "$LS_PID" 2>/dev/null; then
    kill -TERM -- "-$LS_PID" 2>/dev/null || kill -TERM "$LS_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$LS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$LS_PID" 2>/dev/null || true
  fi
  if [ $status -ne 0 ] && [ -f "$WORK/localstack.log" ]; then
    echo "--- last lines of the LocalStack log ---" >&2
    tail -n 40 "$WORK/localstack.log" >&2
  fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT INT TERM

echo "LocalStack suite: starting LocalStack 4.14.0 on $ENDPOINT" >&2
# setsid: its own process group, so cleanup stops LocalStack and its node child.
(
  cd "$WORK"
  # The environment passes through (CA bundles, proxies: npm needs them), minus
  # anything that would point LocalStack's own clients at another endpoint.
  exec env -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_KINESIS -u KINESIS_ENDPOINT_URL \
    -u AWS_PROFILE HOME="$WORK/home" \
    OVERRIDE_IN_DOCKER=0 GATEWAY_LISTEN="127.0.0.1:$PORT" GATEWAY_SERVER=hypercorn \
    DNS_ADDRESS=0 SERVICES=kinesis,s3,sqs,sns PERSISTENCE=0 KINESIS_SHARD_LIMIT=10000 \
    FILESYSTEM_ROOT="$WORK/fs" CONFIG_DIR="$WORK/config" \
    DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
    NODE_OPTIONS="--require $ROOT/integration-test/loopback-listen.cjs" \
    setsid "$LS_VENV/bin/python" -m localstack.runtime.main
) >"$WORK/localstack.log" 2>&1 &
LS_PID=$!

# Ready = a real Kinesis call answers (the health endpoint turns green before the
# Kinesis backend is installed). Poll; no fixed sleep.
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
"$PY" - "$ENDPOINT" "$LS_PID" "$WORK/localstack.log" <<'PYEOF' || { echo "LocalStack suite: LocalStack did not start" >&2; exit 1; }
import os, sys, time
import boto3
from botocore.config import Config
endpoint, pid, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = boto3.client("kinesis", endpoint_url=endpoint,
                      config=Config(retries={"total_max_attempts": 1}, connect_timeout=2,
                                    read_timeout=60))
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("LocalStack exited")
    with open(log, errors="replace") as fh:
        text = fh.read()
    if "Installation of kinesis-local" in text and "failed" in text:
        sys.exit("LocalStack could not install its Kinesis backend (kinesis-local from npm)")
    try:
        client.list_streams()
        print(f"LocalStack suite: Kinesis answers after {300 - (deadline - time.monotonic()):.1f} s",
              file=sys.stderr)
        sys.exit(0)
    except Exception:
        time.sleep(0.25)
sys.exit("timed out waiting for Kinesis")
PYEOF

# Nothing may listen beyond loopback (LocalStack's gateway, kinesis-local).
if command -v ss >/dev/null 2>&1; then
  wide=$(ss -ltnpH 2>/dev/null | awk '$4 !~ /^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):/' \
         | grep -E "pid=($LS_PID|$(pgrep -d'|' -g "$LS_PID" 2>/dev/null || echo none))," || true)
  if [ -n "$wide" ]; then
    echo "LocalStack suite: a LocalStack process listens beyond loopback:" >&2
    echo "$wide" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--serve" ]; then
  echo "LocalStack is serving Kinesis, S3, SQS and SNS on $ENDPOINT (Ctrl-C stops it), e.g.:" >&2
  echo "  .venv/bin/python -m streaming demo --endpoint-url $ENDPOINT" >&2
  wait "$LS_PID"
  exit 0
fi

STREAMING_TEST_ENDPOINT=$ENDPOINT STREAMING_TEST_EMULATOR=localstack \
  "$PY" -m pytest tests/integration --deselect tests/integration/test_demo.py \
  --deselect tests/integration/test_package.py \
  -p no:cacheprovider -q -rs "$@"
