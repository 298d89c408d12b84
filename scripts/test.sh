#!/usr/bin/env bash
# Run the test suite: what CI runs (after scripts/setup.sh).
#
#   bash scripts/test.sh                 # everything: lint, sanity, pytest, every Molecule scenario
#   bash scripts/test.sh lint sanity     # chosen stages: lint | sanity | pytest | molecule
#   bash scripts/test.sh molecule backup # one Molecule scenario (or several)
#   FP_MOLECULE_JOBS=2 bash scripts/test.sh molecule   # two scenarios at a time
#
# Exits non-zero if any stage fails; every stage runs even after a failure so one
# run reports everything. Stage timings are printed at the end.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
VENV=${FP_VENV:-$REPO/.venv}
export PATH="$VENV/bin:$PATH"
export FP_TEST_NS=${FP_TEST_NS:-fp}
export ANSIBLE_COLLECTIONS_PATH="$REPO/.collections"
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1

# A fresh machine gets everything first; on a prepared one this takes seconds.
if [ "${FP_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }
fi

stages=()
scenarios=()
for arg in "$@"; do
  case $arg in
    lint|sanity|pytest|molecule) stages+=("$arg") ;;
    *)
      if [ "${stages[-1]:-}" = molecule ] && [ -f "molecule/$arg/molecule.yml" ]; then
        scenarios+=("$arg")
      else
        echo "unknown stage or scenario: $arg (stages: lint sanity pytest molecule [scenario...])" >&2
        exit 2
      fi ;;
  esac
done
[ ${#stages[@]} -gt 0 ] || stages=(lint sanity pytest molecule)

failed=()
timings=()
stage() {
  local name=$1 t0
  shift
  t0=$(date +%s)
  printf '\n==== %s\n' "$name"
  if "$@"; then
    timings+=("$(printf '%-34s ok    %4ss' "$name" $(( $(date +%s) - t0 )))")
  else
    failed+=("$name")
    timings+=("$(printf '%-34s FAIL  %4ss' "$name" $(( $(date +%s) - t0 )))")
  fi
}

run_lint() {
  stage "ruff" ruff check .
  stage "ansible-lint (production)" ansible-lint --profile production
}

run_sanity() {
  stage "ansible-test sanity" bash tests/sanity.sh
}

run_pytest() {
  stage "pytest (unit + integration)" python -m pytest tests -p no:cacheprovider -q
}

# Scenarios run one at a time, or FP_MOLECULE_JOBS at a time (each with its own test hosts;
# world services are shared and world.py serialises their start). Logs of parallel runs are
# printed whole, one scenario after the other, when they finish.
run_molecule() {
  local list=("${scenarios[@]}")
  if [ ${#list[@]} -eq 0 ]; then
    # The longest first (so parallel runs end together), then the rest in alphabetical order.
    local first=(rebuild-server pitr recover-database object-mirror) s
    for s in "${first[@]}"; do
      [ -f "molecule/$s/molecule.yml" ] && list+=("$s")
    done
    for f in molecule/*/molecule.yml; do
      s=$(basename "$(dirname "$f")")
      [[ " ${first[*]} " == *" $s "* ]] || list+=("$s")
    done
  fi
  local jobs=${FP_MOLECULE_JOBS:-1}
  if [ "$jobs" -le 1 ] || [ ${#list[@]} -le 1 ]; then
    for s in "${list[@]}"; do
      stage "molecule $s" molecule test -s "$s"
    done
    return
  fi
  # Scenarios that share world state (the test BIND's record, Pebble's orders, the old
  # server's record under .world/<ns>/rebuild) run one after the other in one job, first.
  local together="rebuild-server rebuild-pitr" chain="" batches=() logdir s batch
  for s in "${list[@]}"; do
    if [[ " $together " == *" $s "* ]]; then chain+="${chain:+ }$s"; else batches+=("$s"); fi
  done
  [ -n "$chain" ] && batches=("$chain" "${batches[@]}")
  logdir=$(mktemp -d /tmp/fp-molecule.XXXXXX)
  for batch in "${batches[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    (
      for s in $batch; do
        t0=$(date +%s)
        molecule test -s "$s" >"$logdir/$s.log" 2>&1
        echo "$? $(( $(date +%s) - t0 ))" >"$logdir/$s.result"
      done
    ) &
    printf '\n==== molecule %s started (logs %s/<scenario>.log)\n' "${batch// / then }" "$logdir"
  done
  wait
  for s in "${list[@]}"; do
    local rc secs
    read -r rc secs <"$logdir/$s.result"
    printf '\n==== molecule %s\n' "$s"
    cat "$logdir/$s.log"
    if [ "$rc" = 0 ]; then
      timings+=("$(printf '%-34s ok    %4ss' "molecule $s" "$secs")")
    else
      failed+=("molecule $s")
      timings+=("$(printf '%-34s FAIL  %4ss' "molecule $s" "$secs")")
    fi
  done
}

for st in "${stages[@]}"; do
  case $st in
    lint) run_lint ;;
    sanity) run_sanity ;;
    pytest) run_pytest ;;
    molecule) run_molecule ;;
  esac
done

printf '\n==== summary\n'
printf '%s\n' "${timings[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nall stages passed\n'
