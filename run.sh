#!/usr/bin/env bash
# One front door for people and CI:
#   ./run.sh dashboard [streamlit args]   start the dashboard on the embedded demo model
#   ./run.sh test [pytest args]           run the test suite (installs what it needs first)
# Creates .venv from requirements.txt on first use (and again whenever requirements.txt changes).
set -euo pipefail
cd "$(dirname "$0")"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv
STAMP="$VENV/.requirements.sha256"

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating $VENV with $PY (first run: a few minutes) ..."
    "$PY" -m venv "$VENV"
  fi
  local want; want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    echo "Installing requirements.txt into $VENV ..."
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 \
      | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import torch, torchvision, open_clip, faiss, streamlit, altair" \
      || { echo "error: installing requirements.txt failed (see above)" >&2; exit 1; }
    echo "$want" > "$STAMP"
  fi
}

ensure_ray_extra() {
  # The optional Ray engine (requirements-ray.txt) is installed for the tests only; own stamp, so switching
  # between `dashboard` and `test` never reinstalls anything.
  local stamp="$VENV/.requirements-ray.sha256" want
  want=$(cat requirements.txt requirements-ray.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing requirements-ray.txt into $VENV ..."
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-ray.txt 2>&1 \
      | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import ray.data" \
      || { echo "error: installing requirements-ray.txt failed (see above)" >&2; exit 1; }
    echo "$want" > "$stamp"
  fi
}

ensure_browser() {
  # The end-to-end tests drive Debian's Chromium (never a downloaded browser).
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing Debian's chromium for the browser tests ..."
      (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null
    else
      echo "warning: chromium is not installed; install it (sudo apt-get install chromium) or the e2e tests fail." >&2
    fi
  fi
}

ensure_proxy() {
  # The deployment recipe's test (tests/e2e/test_deploy_proxy.py) runs the dashboard behind Debian's nginx; it skips
  # where nginx is missing.
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing Debian's nginx-light for the deployment test ..."
      (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light) >/dev/null
    else
      echo "warning: nginx is not installed; the deployment test is skipped (sudo apt-get install nginx-light)." >&2
    fi
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  dashboard)
    ensure_venv
    exec "$VENV/bin/python" -m streamlit run dashboard.py --server.headless true \
      --browser.gatherUsageStats false "$@"
    ;;
  test)
    ensure_venv
    ensure_ray_extra
    ensure_browser
    ensure_proxy
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./run.sh dashboard | test [extra args]" >&2
    exit 2
    ;;
esac
