#!/usr/bin/env bash
# Fuzzes the frame splitter (native/framer.*) with libFuzzer, one target per framing mode, built from
# test/native/fuzz_framer.cc with AddressSanitizer and UndefinedBehaviorSanitizer. Each target runs for
# FUZZ_SECONDS (default 60) on a temporary copy of its seed corpus (test/native/corpus/<mode>/, which is
# never grown by a run). Exits non-zero if any target crashes or breaks an invariant, and prints the path
# of the saved input; reproduce with `test/native/build/fuzz/fuzz_framer_<mode> <input>`.
#
# Needs clang with libFuzzer (Debian/Ubuntu: apt-get install clang libclang-rt-<version>-dev, or
# libfuzzer-<version>-dev on older releases). When it is missing and this runs as root with apt-get,
# it installs them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
OUT="$ROOT/test/native/build/fuzz"
MODES=(length-prefixed lines content-length)

find_clang() {
  local c
  for c in "${CXX_FUZZ:-}" clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

# Whether this clang can link a libFuzzer target.
can_fuzz() {
  local tmp
  tmp="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$tmp/t.cc"
  local ok=1
  "$1" -fsanitize=fuzzer "$tmp/t.cc" -o "$tmp/t" >/dev/null 2>&1 && ok=0
  rm -rf "$tmp"
  return $ok
}

install_clang() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "fuzz: clang with libFuzzer is needed. Install it, e.g. on Debian/Ubuntu:" >&2
    echo "  sudo apt-get install clang libclang-rt-<version>-dev   # or libfuzzer-<version>-dev" >&2
    echo "(<version> is clang's major version; set CXX_FUZZ to use another compiler)" >&2
    exit 2
  fi
  echo "fuzz: installing clang and libFuzzer with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if ! command -v clang++ >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends clang >/dev/null
  fi
  local major
  major="$(clang++ --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)"
  local pkg
  for pkg in "libclang-rt-$major-dev" "libfuzzer-$major-dev"; do
    if apt-cache show "$pkg" >/dev/null 2>&1; then
      apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
      return 0
    fi
  done
  echo "fuzz: found no libFuzzer package for clang $major" >&2
  exit 2
}

CXX_BIN="$(find_clang || true)"
if [ -z "$CXX_BIN" ] || ! can_fuzz "$CXX_BIN"; then
  install_clang
  CXX_BIN="$(find_clang || true)"
  if [ -z "$CXX_BIN" ] || ! can_fuzz "$CXX_BIN"; then
    echo "fuzz: clang still cannot build a libFuzzer target" >&2
    exit 2
  fi
fi

mkdir -p "$OUT"
for i in "${!MODES[@]}"; do
  mode="${MODES[$i]}"
  echo "fuzz: building fuzz_framer_$mode with $CXX_BIN"
  "$CXX_BIN" -std=c++17 -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -DFUZZ_MODE="$i" -I native \
    test/native/fuzz_framer.cc native/framer.cc -o "$OUT/fuzz_framer_$mode"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/symphony-fuzz.XXXXXX")"
cleanup() {
  # Keep the directory when something crashed: it holds the saved inputs.
  if [ "${failed:-0}" = 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

failed=0
for mode in "${MODES[@]}"; do
  corpus="$WORK/corpus-$mode"
  artifacts="$WORK/artifacts-$mode"
  mkdir -p "$corpus" "$artifacts"
  cp test/native/corpus/"$mode"/* "$corpus"/
  log="$WORK/$mode.log"
  echo "fuzz: running fuzz_framer_$mode for ${FUZZ_SECONDS}s"
  status=0
  # -max_len allows the content-length header block limit (8 KiB) to be reached.
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
    "$OUT/fuzz_framer_$mode" -max_total_time="$FUZZ_SECONDS" -max_len=10000 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  echo "fuzz: $mode: ${runs:-?} executions, exit status $status"
  crashes=("$artifacts"/*)
  if [ "$status" != 0 ] || [ -e "${crashes[0]}" ]; then
    failed=1
    echo "fuzz: $mode FAILED; last lines of its log ($log):" >&2
    grep -E 'invariant violated|ERROR: |runtime error:|SUMMARY:' "$log" | head -n 20 >&2 || true
    tail -n 30 "$log" >&2
    for f in "${crashes[@]}"; do
      [ -e "$f" ] && echo "fuzz: crashing input: $f" >&2
    done
    echo "fuzz: reproduce with: $OUT/fuzz_framer_$mode <input>" >&2
  fi
done

if [ "$failed" != 0 ]; then
  echo "fuzz: FAILED (inputs and logs kept in $WORK)" >&2
  exit 1
fi
echo "fuzz: all targets ran ${FUZZ_SECONDS}s without a crash"
