#!/usr/bin/env bash
# Runs chatvault's fuzz targets (fuzz/, its own workspace) one after the
# other, each for the given time, on stable Rust (`--sanitizer none`).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Defaults: 60 seconds, every target `cargo fuzz list` names. Installs
# cargo-fuzz if it is missing. Inputs that reach new code are kept in
# fuzz/corpus-work/<target>/ (not committed; the committed seeds in
# fuzz/corpus/<target>/ are read, never written), so a later run goes on
# from there. Crashes land in fuzz/artifacts/<target>/ (see fuzz/README.md
# for turning one into a regression input). Logs go to $FUZZ_LOG_DIR
# (default fuzz/target/fuzz-logs/fuzz-<target>.log).
#
# Prints executions, corpus size and findings per target; exits non-zero
# if any target found something.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
fuzz_dir="$(pwd)"

secs="${1:-60}"
[ $# -gt 0 ] && shift
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

logs="${FUZZ_LOG_DIR:-$fuzz_dir/target/fuzz-logs}"
mkdir -p "$logs"
# The harnesses put their stores in the temporary directory: on a RAM disk
# their commits cost nothing.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi

echo "building ${targets[*]}"
cargo fuzz build --sanitizer none >"$logs/build.log" 2>&1 || {
  tail -30 "$logs/build.log" >&2
  exit 1
}

status=0
summary=()
for t in "${targets[@]}"; do
  work="$fuzz_dir/corpus-work/$t"
  seeds="$fuzz_dir/corpus/$t"
  artifacts="$fuzz_dir/artifacts/$t"
  mkdir -p "$work" "$seeds" "$artifacts"
  marker="$(mktemp)"
  log="$logs/fuzz-$t.log"
  echo "fuzzing $t for ${secs}s (log: $log)"
  set +e
  cargo fuzz run --sanitizer none "$t" "$work" "$seeds" -- \
    -max_total_time="$secs" -print_final_stats=1 -timeout=60 >"$log" 2>&1
  rc=$?
  set -e
  execs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -1 | awk '{print $2}')"
  rate="$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | tail -1 | awk '{print $2}')"
  corpus="$(find "$work" -type f | wc -l)"
  new_artifacts="$(find "$artifacts" -type f -newer "$marker")"
  rm -f "$marker"
  found="$(printf '%s' "$new_artifacts" | grep -c . || true)"
  result="ok"
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    result="FINDING (exit $rc) ${new_artifacts//$'\n'/ }"
    grep -m1 -A2 -E "panicked at|ERROR: libFuzzer" "$log" || true
    status=1
  fi
  summary+=("$(printf '%-14s %12s %8s %10s %9s  %s' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$found" "$result")")
done

printf '\n%-14s %12s %8s %10s %9s  %s\n' target executions exec/s corpus findings result
printf '%s\n' "${summary[@]}"
exit "$status"
