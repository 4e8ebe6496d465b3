#!/usr/bin/env bash
# A real GRPO run with daj as its reward over HTTP: TRL's GRPOTrainer trains SmolLM2-135M-Instruct on MBPP+ on the
# CPU (examples/grpo_trl.py), every reward batch answered by `POST /rewards` of a live `daj serve`. Then checks
#   (a) the run finished and logged RL_STEPS steps, each with a finite loss and reward;
#   (b) daj's /metrics counted one 200 on path="/rewards" for every reward call TRL made (and at least RL_STEPS);
#   (c) the reward mean TRL logged for each step equals the mean of the rewards daj returned for it (within 1e-6).
# Exits nonzero on any failure. About 2-3 minutes with a ready .venv-rl (~20 s per step on 2 cores).
#
# Its own venv, .venv-rl (TRL must not move transformers under the service's vLLM), set up idempotently: a stamp
# keyed by the hash of what it installs skips pip when nothing changed. The service runs from .venv with no judge
# engine (DAJ_BACKEND=remote towards a port nothing listens on): /rewards with pass_rate needs only the sandbox,
# and 2 cores cannot spare vLLM's start-up next to training. RL_JUDGE=1 loads the judge as `daj serve` does.
#
# Knobs: RL_STEPS (2), RL_OUT (runs/test_rl), RL_REWARD (pass_rate), RL_JUDGE (0), PYTHON (python3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV_RL=.venv-rl
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
STEPS=${RL_STEPS:-2}
OUT=${RL_OUT:-runs/test_rl}
REWARD=${RL_REWARD:-pass_rate}
STAMP="$VENV_RL/.daj-rl-setup"
WANT=$(cat clients/python/pyproject.toml scripts/test_rl.sh | sha256sum | cut -c1-16)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

pip_q() {
  # The local registry mirror prints a warning per package it does not carry; keep real errors visible.
  "$VENV_RL/bin/pip" "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  return "${PIPESTATUS[0]}"
}

# ---- 1. .venv-rl ----
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
    && "$VENV_RL/bin/python" -c "import trl, daj_client.rewards" 2>/dev/null; then
  echo "test-rl: $VENV_RL up to date"
else
  start=$(date +%s)
  [ -x "$VENV_RL/bin/python" ] || "$PYTHON" -m venv "$VENV_RL"
  printf '*\n' > "$VENV_RL/.gitignore"  # keep the venv out of git status
  # torch first, from the local CPU wheel: a plain resolve would pull a CUDA build from the registry.
  pip_q install -q torch==2.13.0
  pip_q install -q -e "clients/python[rl]"
  # A CUDA torchvision next to the CPU torch breaks `import transformers` (docs/runtime.md); TRL needs none.
  if ls -d "$VENV_RL"/lib/python*/site-packages/torchvision >/dev/null 2>&1; then
    pip_q uninstall -q -y torchvision
  fi
  "$VENV_RL/bin/python" -c "import trl, daj_client.rewards"
  echo "$WANT" > "$STAMP"
  echo "test-rl: $VENV_RL installed in $(( $(date +%s) - start )) s"
fi

# ---- 2. the model and the service ----
[ -x .venv/bin/daj ] || { echo "test-rl: .venv/bin/daj missing: run make setup" >&2; exit 1; }
MODEL=$(.venv/bin/python -c "from daj.models import prepare_embedded_model; print(prepare_embedded_model())")
rm -rf "$OUT" && mkdir -p "$OUT"
free_port() { "$VENV_RL/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
KEY="test-rl-$RANDOM$RANDOM"
SERVE_ENV=(DAJ_PORT="$PORT" DAJ_API_KEYS="$KEY" DAJ_LOG_LEVEL=warning)
if [ "${RL_JUDGE:-0}" != 1 ]; then
  SERVE_ENV+=(DAJ_BACKEND=remote DAJ_REMOTE_URL="http://127.0.0.1:$(free_port)")
fi
# No Redis: the in-process caches only.
env -u REDIS_URL -u DAJ_REDIS_URL "${SERVE_ENV[@]}" .venv/bin/daj serve >"$OUT/serve.log" 2>&1 &
SERVE_PID=$!
stop_service() {
  if kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$SERVE_PID" 2>/dev/null && kill -KILL "$SERVE_PID" 2>/dev/null || true
  fi
  wait "$SERVE_PID" 2>/dev/null || true
}
trap stop_service EXIT

start=$(date +%s)
until curl -sf "$URL/health" >/dev/null; do
  if ! kill -0 "$SERVE_PID" 2>/dev/null || [ $(( $(date +%s) - start )) -gt 180 ]; then
    echo "test-rl: daj serve did not come up:" >&2; tail -40 "$OUT/serve.log" >&2; exit 1
  fi
  sleep 1
done
echo "test-rl: daj serve on $URL (/health in $(( $(date +%s) - start )) s$([ "${RL_JUDGE:-0}" = 1 ] || echo \
  "; no judge engine: its 'engine failed to start' in $OUT/serve.log is expected"))"

# ---- 3. the GRPO run ----
set +e
DAJ_API_KEY="$KEY" "$VENV_RL/bin/python" examples/grpo_trl.py --url "$URL" --reward "$REWARD" --steps "$STEPS" \
  --model "$MODEL" --output-dir "$OUT/trainer" --log-json "$OUT/log_history.json" \
  --rewards-log "$OUT/daj_rewards.jsonl" --plot "$OUT/reward.png" 2>&1 | tee "$OUT/train.log"
TRAIN_RC=${PIPESTATUS[0]}
set -e
curl -sf -H "Authorization: Bearer $KEY" "$URL/metrics" >"$OUT/metrics.txt" || echo "test-rl: /metrics failed" >&2

# ---- 4. the checks ----
"$VENV_RL/bin/python" - "$OUT" "$STEPS" "$TRAIN_RC" <<'EOF'
import json, math, re, sys
from pathlib import Path

out, steps, train_rc = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
history = json.loads((out / "log_history.json").read_text()) if (out / "log_history.json").is_file() else []
calls_path = out / "daj_rewards.jsonl"
calls = [json.loads(line) for line in calls_path.read_text().splitlines()] if calls_path.is_file() else []
metrics = (out / "metrics.txt").read_text() if (out / "metrics.txt").is_file() else ""
by_status = {}
for labels, value in re.findall(r'^daj_requests_total\{([^}]*)\}\s+(\S+)$', metrics, re.MULTILINE):
    fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
    if fields.get("path") == "/rewards":
        by_status[fields.get("status", "?")] = by_status.get(fields.get("status", "?"), 0) + int(float(value))
def total(name):
    return sum(int(float(v)) for v in re.findall(rf"^{name}_total(?:{{[^}}]*}})?\s+(\S+)$", metrics, re.MULTILINE))

keys = sorted({k for row in history for k in row if k.startswith("rewards/") and k.endswith("/mean")})
key = keys[0] if len(keys) == 1 else None

def mean(values):
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else float("nan")

print(f"\n{'step':>4} {'loss':>9} {'TRL ' + (key or 'reward mean'):>34} {'daj mean':>9} {'|diff|':>8} "
      f"{'daj rewards':<34} {'reward s':>8} {'step s':>7}")
diffs = []
for i, row in enumerate(history):
    call = calls[i] if i < len(calls) else None
    logged = row.get(key) if key else None
    ours = mean(call["rewards"]) if call else float("nan")
    diff = abs(logged - ours) if logged is not None else float("nan")
    diffs.append(diff)
    rewards = "[" + ", ".join("null" if r is None else f"{r:.3g}" for r in call["rewards"]) + "]" if call else "-"
    print(f"{row.get('step', '?'):>4} {row.get('loss', float('nan')):>9.4g} {logged if logged is not None else float('nan'):>34.6f} "
          f"{ours:>9.6f} {diff:>8.1e} {rewards:<34} {call['seconds'] if call else float('nan'):>8.2f} "
          f"{row.get('step_time', float('nan')):>7.1f}")

ok_200 = by_status.get("200", 0)
checks = [
    ("(a) the run exited 0", train_rc == 0, f"exit code {train_rc}"),
    ("(a) steps logged", [row.get("step") for row in history] == list(range(1, steps + 1)),
     f"{len(history)} of {steps}: {[row.get('step') for row in history]}"),
    ("(a) every step has a finite loss and reward", bool(history) and key is not None and all(
        isinstance(row.get("loss"), (int, float)) and math.isfinite(row["loss"]) and isinstance(row.get(key), (int, float))
        and math.isfinite(row[key]) for row in history), f"reward key {key or keys}"),
    ("(b) one reward call per step", len(calls) == steps and [c["global_step"] for c in calls] == list(range(steps)),
     f"{len(calls)} calls at global steps {[c['global_step'] for c in calls]}"),
    ("(b) daj counted every call", ok_200 == len(calls) and ok_200 >= steps,
     f'daj_requests{{path="/rewards"}} by status {by_status or "missing"}; TRL made {len(calls)} calls'),
    ("(b) daj scored every completion", total("daj_reward_batches") == len(calls)
     and total("daj_reward_completions") == sum(c["completions"] for c in calls),
     f'daj_reward_batches {total("daj_reward_batches")}, daj_reward_completions {total("daj_reward_completions")}; '
     f'TRL sent {sum(c["completions"] for c in calls)} completions'),
    ("(c) TRL's mean == daj's mean", len(diffs) == steps and all(d <= 1e-6 for d in diffs),
     "max |diff| " + (f"{max(diffs):.1e}" if diffs else "n/a")),
]
none_rewards = sum(r is None for c in calls for r in c["rewards"])
print()
for name, passed, detail in checks:
    print(f"{'PASS' if passed else 'FAIL'}  {name:<44} {detail}")
if none_rewards:
    print(f"note  {none_rewards} completions got a null reward from daj (not scored; TRL skips them)")
failed = [name for name, passed, _ in checks if not passed]
print(f"\ntest-rl: {'FAILED: ' + '; '.join(failed) if failed else 'all checks passed'} (files in {out})")
sys.exit(1 if failed else 0)
EOF
