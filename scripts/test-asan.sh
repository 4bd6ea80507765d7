#!/usr/bin/env bash
# Runs the whole vitest suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of the
# addon. The sanitizer build goes to test/native/build/asan/ (git-ignored); build/ (the release build)
# is not touched. src/native.ts loads the file named by SYMPHONY_IPC_ADDON instead of the normal build.
#
# Node itself is not instrumented, so the sanitizer runtimes must be loaded before anything else:
# they are preloaded (LD_PRELOAD) into node and, since the environment is inherited, into every process
# the tests start (vitest's workers, the node children of the lifetime and interop tests, and python3, g++,
# sh). The preloaded runtimes are harmless in programs that were not built with them. Each process writes
# its reports to its own file in a temporary directory (log_path, named after the executable), so a report
# is seen even when a test swallows a child's stderr.
#
# Fails when vitest fails, when any sanitizer report ("ERROR: AddressSanitizer", "runtime error:")
# appears in vitest's output, or when a node process (or anything running our instrumented code) left a
# report. A report from some other program (python3, g++...) is printed as noise and does not fail the run:
# it cannot involve the addon.
#
# Usage: bash scripts/test-asan.sh [vitest args...]   (e.g. a test file to run only that)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OUT="$ROOT/test/native/build/asan"
ADDON="$OUT/project/build/Release/symphony_ipc.node"
SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g -O1"

start=$(date +%s)

LIBASAN="$(g++ -print-file-name=libasan.so)"
LIBUBSAN="$(g++ -print-file-name=libubsan.so)"
for lib in "$LIBASAN" "$LIBUBSAN"; do
  # -print-file-name echoes the bare name back when it finds nothing.
  if [ "${lib#/}" = "$lib" ] || [ ! -e "$lib" ]; then
    echo "test:asan: g++ has no sanitizer runtime ($lib); install gcc's libasan and libubsan" >&2
    exit 2
  fi
done

# Build in a project directory of its own (binding.gyp plus links to native/ and node_modules/), so
# node-gyp writes its build/ there, with g++ and the sanitizer flags appended to its own.
echo "test:asan: building the addon with $SAN_FLAGS"
mkdir -p "$OUT/project"
cp binding.gyp "$OUT/project/binding.gyp"
ln -sfn "$ROOT/native" "$OUT/project/native"
ln -sfn "$ROOT/node_modules" "$OUT/project/node_modules"
# Use the Node headers the release build used (npm's nodedir setting, say /usr for a distribution's node),
# so no download is needed when they are already there.
NODEDIR="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
case "$NODEDIR" in undefined | null) NODEDIR="" ;; esac
if [ -z "$NODEDIR" ] && [ -f build/config.gypi ]; then
  NODEDIR="$(sed -n 's/^ *"nodedir": "\(.*\)",*$/\1/p' build/config.gypi | head -n 1)"
fi
GYP_ARGS=(rebuild --release)
[ -n "$NODEDIR" ] && GYP_ARGS+=("--nodedir=$NODEDIR")
if ! (
  cd "$OUT/project" &&
    CC=gcc CXX=g++ CFLAGS="$SAN_FLAGS" CXXFLAGS="$SAN_FLAGS" LDFLAGS="-fsanitize=address,undefined" \
      "$ROOT/node_modules/.bin/node-gyp" "${GYP_ARGS[@]}" >"$OUT/build.log" 2>&1
); then
  tail -n 40 "$OUT/build.log" >&2
  echo "test:asan: building the sanitizer addon failed (log: $OUT/build.log)" >&2
  exit 2
fi
if ! ldd "$ADDON" | grep -q libasan; then
  echo "test:asan: $ADDON is not linked with libasan; the sanitizer flags did not reach the build" >&2
  exit 2
fi

echo "test:asan: compiling TypeScript"
npm run --silent build:ts || exit 2

REPORTS="$(mktemp -d "${TMPDIR:-/tmp}/symphony-asan.XXXXXX")"
OUTPUT="$REPORTS/vitest-output.txt"

# test/native/build/ holds build output only (this script's own project directory links node_modules/,
# and other tools may leave trees there); never collect test files from it.
echo "test:asan: running vitest with $ADDON"
SYMPHONY_IPC_ADDON="$ADDON" \
LD_PRELOAD="$LIBASAN:$LIBUBSAN${LD_PRELOAD:+:$LD_PRELOAD}" \
ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:log_path=$REPORTS/report:log_exe_name=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$REPORTS/report:log_exe_name=1" \
  npx vitest run --exclude 'test/native/build/**' "$@" 2>&1 | tee "$OUTPUT"
vitest_status=${PIPESTATUS[0]}

failed=0
if [ "$vitest_status" != 0 ]; then
  echo "test:asan: vitest exited with status $vitest_status" >&2
  failed=1
fi
if grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$OUTPUT"; then
  echo "test:asan: a sanitizer report appeared in the test output:" >&2
  grep -nE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$OUTPUT" >&2
  failed=1
fi
for report in "$REPORTS"/report.*; do
  [ -e "$report" ] || continue
  exe="$(basename "$report")"
  exe="${exe#report.}"
  exe="${exe%.*}"
  # UBSan reports ("runtime error:") come only from instrumented code, so they are ours whatever the
  # process; ASan reports from node processes may involve the addon.
  if [ "$exe" = node ] || grep -q 'runtime error:' "$report" || grep -q 'symphony_ipc' "$report"; then
    echo "test:asan: sanitizer report from $exe ($report):" >&2
    cat "$report" >&2
    failed=1
  else
    echo "test:asan: ignoring a sanitizer report from $exe, which does not run the addon ($report):" >&2
    head -n 20 "$report" >&2
  fi
done

elapsed=$(($(date +%s) - start))
if [ "$failed" != 0 ]; then
  echo "test:asan: FAILED after ${elapsed}s (reports and output kept in $REPORTS)" >&2
  exit 1
fi
rm -rf "$REPORTS"
echo "test:asan: passed in ${elapsed}s with no sanitizer report"
