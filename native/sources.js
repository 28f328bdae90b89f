#!/usr/bin/env node
// The one list of the addon's C++ sources, read by binding.gyp (node-gyp) and
// CMakeLists.txt (cmake-js and the native-only targets). Every .cc under these
// folders is compiled; kernel files compile themselves once per ISA (simd/foreach_isa.h).
//   node native/sources.js addon   -> sources of the shipped addon (binding included)
//   node native/sources.js core    -> everything but the N-API binding
'use strict';
const fs = require('fs');
const path = require('path');

const root = __dirname;
const coreDirs = ['core', 'kernels', 'graph'];
const bindingDirs = ['binding'];

function walk(dir) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  const out = [];
  for (const entry of fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(rel));
    else if (entry.name.endsWith('.cc') && !entry.name.endsWith('_test.cc')) out.push(rel);
  }
  return out;
}

function sources(kind) {
  const dirs = kind === 'addon' ? [...coreDirs, ...bindingDirs] : coreDirs;
  return dirs.flatMap(walk).map((f) => path.posix.join('native', f));
}

module.exports = { sources };
if (require.main === module) {
  const kind = process.argv[2] || 'addon';
  process.stdout.write(sources(kind).join(process.argv[3] === '--lines' ? '\n' : ' '));
}
