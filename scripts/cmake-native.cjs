#!/usr/bin/env node
// Native-only builds with CMake from the same source list as binding.gyp.
//   node scripts/cmake-native.cjs addon [buildDir] [-DTJ_SANITIZE=address]  -> <buildDir>/tensorjit.node
//   node scripts/cmake-native.cjs test  [buildDir]                          -> builds and runs ctest
// Node's headers come from the running Node (no download). Point TENSORJIT_ADDON at the
// built .node to use it from JS: TENSORJIT_ADDON=build-dev/tensorjit.node npx vitest run
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');

const [mode = 'addon', dirArg, ...extra] = process.argv.slice(2);
const root = path.join(__dirname, '..');
const buildDir = path.resolve(root, dirArg || (mode === 'test' ? 'build-native-test' : 'build-dev'));
const nodeInclude = path.join(path.dirname(process.execPath), '..', 'include', 'node');
const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root });

const jobs = String(Math.max(1, require('os').availableParallelism?.() ?? 2));
run('cmake', ['-S', root, '-B', buildDir, `-DCMAKE_JS_INC=${nodeInclude}`, '-DCMAKE_BUILD_TYPE=Release', ...extra]);
if (mode === 'test') {
  run('cmake', ['--build', buildDir, '-j', jobs]);
  run('ctest', ['--test-dir', buildDir, '--output-on-failure']);
} else {
  run('cmake', ['--build', buildDir, '-j', jobs, '--target', 'tensorjit']);
  console.log(`built ${path.join(buildDir, 'tensorjit.node')}`);
}
