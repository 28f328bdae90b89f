#!/usr/bin/env node
// Native-only builds through cmake-js from the same source list as binding.gyp (native/sources.js).
//   node scripts/cmake-native.cjs addon [buildDir] [-DKEY=VALUE...]  -> <buildDir>/tensorjit.node
//   node scripts/cmake-native.cjs test  [buildDir] [-DKEY=VALUE...]  -> builds everything, runs ctest
// e.g. the sanitizer build: node scripts/cmake-native.cjs addon build-asan -DTJ_SANITIZE=address,undefined
// Point TENSORJIT_ADDON at the built .node to use it from JS:
//   TENSORJIT_ADDON=build-dev/tensorjit.node npx vitest run
//
// Offline: package.json declares `binary.napi_versions`, so cmake-js treats the addon as
// Node-API only and takes its headers from the node-api-headers package (a cmake-js
// dependency) instead of downloading Node's headers. The one file that needs V8's headers
// (binding/gc_freed_buffer.cc) gets the running Node's own include/node, found as the
// node-gyp build finds it (scripts/local-headers.cjs).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { BuildSystem } = require('cmake-js');
const { localNodeDir } = require('./local-headers.cjs');

const [mode = 'addon', dirArg, ...extra] = process.argv.slice(2);
if (mode !== 'addon' && mode !== 'test') {
  console.error(`unknown mode '${mode}' (addon or test)`);
  process.exit(2);
}
const root = path.join(__dirname, '..');
const buildDir = path.resolve(root, dirArg || (mode === 'test' ? 'build-native-test' : 'build-dev'));

const cMakeOptions = { CMAKE_BUILD_TYPE: 'Release' };
const nodeDir = process.env.npm_config_nodedir || localNodeDir();
if (nodeDir) cMakeOptions.TJ_NODE_INCLUDE = path.join(nodeDir, 'include', 'node');
for (const arg of extra) {
  const m = /^-D([^=]+)=(.*)$/.exec(arg);
  if (!m) {
    console.error(`unsupported argument '${arg}' (only -DKEY=VALUE)`);
    process.exit(2);
  }
  cMakeOptions[m[1].replace(/:.*$/, '')] = m[2];
}

// A directory configured before keeps its generator (CMake refuses to switch); new ones
// get cmake-js's choice (Ninja when installed, else Unix Makefiles).
function cachedGenerator() {
  try {
    const cache = fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8');
    return /^CMAKE_GENERATOR:INTERNAL=(.*)$/m.exec(cache)?.[1];
  } catch {
    return undefined;
  }
}

async function main() {
  const jobs = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const build = new BuildSystem({
    directory: root,
    out: buildDir,
    config: 'Release',
    generator: cachedGenerator(),
    parallel: jobs,
    target: mode === 'addon' ? 'tensorjit' : undefined,
    cMakeOptions,
  });
  // configure every time: cmake-js `build` alone skips it when a cache exists, which
  // would silently drop new -D options; a re-configure with an unchanged cache is cheap.
  await build.configure();
  await build.build();
  if (mode === 'test') {
    execFileSync('ctest', ['--test-dir', buildDir, '--output-on-failure'], { stdio: 'inherit' });
  } else {
    console.log(`built ${path.join(buildDir, 'tensorjit.node')}`);
  }
}

main().catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
