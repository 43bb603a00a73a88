#!/usr/bin/env bash
# Single-method install check: `npm pack` @medit/rome and what it depends on (@medit/core and
# @medit/native, packed the same way), install the tarballs in a scratch project outside the
# monorepo — the native addon builds there from its sources with cmake-js — and edit a fact of
# fact-small with ROME through the installed packages (scripts/pack-test/edit.js); their types
# are checked too (check.ts, moduleResolution node16, so through "exports").
#
#   scripts/pack-test.sh [DIR]    DIR: the scratch directory (default: a new one under /tmp,
#                                 removed afterwards unless KEEP=1)
#
# Third-party packages (js-yaml, cmake-js, node-addon-api) come from the npm cache, or the
# registry when the cache lacks them. Building the addon takes a minute or two.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d /tmp/medit-pack-test-XXXXXX)}
[[ -z ${1:-} && ${KEEP:-0} != 1 ]] && trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/tarballs" "$WORK/app"

echo "== build the packages' dist (what the tarballs ship)"
(cd "$REPO" && npx tsc -b native packages/core packages/rome)

echo "== npm pack @medit/native @medit/core @medit/rome → $WORK/tarballs"
(cd "$REPO" && npm pack --workspace @medit/native --workspace @medit/core --workspace @medit/rome --pack-destination "$WORK/tarballs" >/dev/null)
ls "$WORK/tarballs"
# The native tarball carries its sources and no build (listed once: grep -q on a pipe would cut tar off).
tar -tzf "$WORK"/tarballs/medit-native-*.tgz > "$WORK/native-files.txt"
grep -qx 'package/CMakeLists.txt' "$WORK/native-files.txt" || { echo "the native tarball has no CMakeLists.txt" >&2; exit 1; }
grep -qx 'package/src/binding/addon.cc' "$WORK/native-files.txt" || { echo "the native tarball has no sources" >&2; exit 1; }
if grep -q '^package/build/' "$WORK/native-files.txt"; then echo "the native tarball carries a build; it must build from source" >&2; exit 1; fi

echo "== install them in $WORK/app (outside the monorepo; the addon builds from source)"
cd "$WORK/app"
npm init -y >/dev/null
# The addon's install script builds it; npm 12 runs dependencies' install scripts only when
# allowed (a tarball by its file: spec, as `npm install-scripts approve` records it).
NATIVE_TGZ=$(ls "$WORK"/tarballs/medit-native-*.tgz)
node -e "const f='package.json', p=require('./'+f); p.allowScripts={['file:'+process.argv[1]]: true}; require('fs').writeFileSync(f, JSON.stringify(p, null, 2))" "$NATIVE_TGZ"
npm install --prefer-offline --no-audit --no-fund "$WORK"/tarballs/*.tgz
test -f node_modules/@medit/native/build/Release/medit_native.node || { echo "the addon was not built at install" >&2; exit 1; }
cp "$REPO"/scripts/pack-test/{edit.js,check.ts,tsconfig.json} .

echo "== types resolve through the installed packages' exports"
node "$REPO/node_modules/typescript/bin/tsc" -p tsconfig.json --typeRoots "$REPO/node_modules/@types"

echo "== edit fact-small with ROME from the installed packages"
node edit.js "$REPO/test-fixtures/models/fact-small"
echo "pack test passed"
