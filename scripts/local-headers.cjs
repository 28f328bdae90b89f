#!/usr/bin/env node
// Runs a node-gyp driven tool (node-gyp-build, node-gyp, prebuildify) against the C headers
// of the Node that runs it, so a source build never downloads headers from nodejs.org.
//   node scripts/local-headers.cjs node-gyp-build          (the package's install script)
//   node scripts/local-headers.cjs node-gyp rebuild
//   node scripts/local-headers.cjs prebuildify --napi --strip
//
// node-gyp only finds local headers by itself when Node was built with
// use_prefix_to_find_headers (most distributions are not); otherwise it downloads them
// unless --nodedir / npm_config_nodedir is set. A fixed nodedir in .npmrc is not portable
// (nvm, /usr/local, /usr, Homebrew all differ), so it is computed here from process.execPath
// and passed down as npm_config_nodedir, which node-gyp reads from the environment and
// node-gyp-build / prebuildify pass on to it. An explicit nodedir from the user wins.
// If no matching headers exist next to this Node, nothing is set and node-gyp falls back to
// its own cache or download.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

/** The prefix holding include/node/ for exactly this Node version, or null. */
function localNodeDir() {
  const candidates = [path.resolve(path.dirname(process.execPath), '..'), process.config.variables.node_prefix];
  for (const dir of candidates) {
    if (!dir) continue;
    const include = path.join(dir, 'include', 'node');
    let versionH;
    try {
      versionH = fs.readFileSync(path.join(include, 'node_version.h'), 'utf8');
    } catch {
      continue;
    }
    const part = (name) => (versionH.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`)) || [])[1];
    const version = `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
    // node-gyp reads common.gypi and config.gypi from include/node when given a nodedir.
    if (version === process.versions.node && fs.existsSync(path.join(include, 'common.gypi'))) return dir;
  }
  return null;
}

/** process.env plus the local nodedir and a parallel make, unless the caller set them. */
function buildEnv(env = process.env) {
  const out = { ...env };
  if (!out.npm_config_nodedir && !out.NPM_CONFIG_NODEDIR) {
    const dir = localNodeDir();
    if (dir) out.npm_config_nodedir = dir;
  }
  // node-gyp compiles one file at a time unless told otherwise.
  if (!out.JOBS && !out.npm_config_jobs) out.JOBS = String(os.availableParallelism?.() ?? os.cpus().length);
  return out;
}

function binOf(pkgName) {
  try {
    const pkgJson = require.resolve(`${pkgName}/package.json`, { paths: [process.cwd(), __dirname] });
    const { bin } = JSON.parse(fs.readFileSync(pkgJson, 'utf8'));
    const rel = typeof bin === 'string' ? bin : bin[pkgName];
    return path.join(path.dirname(pkgJson), rel);
  } catch {
    return null; // not installed here: the tool on PATH (npm puts its own node-gyp there)
  }
}

module.exports = { localNodeDir, buildEnv };

if (require.main === module) {
  const [tool, ...args] = process.argv.slice(2);
  if (!tool) {
    console.error('usage: node scripts/local-headers.cjs <node-gyp-build|node-gyp|prebuildify> [args...]');
    process.exit(2);
  }
  const env = buildEnv();
  // node-gyp-build usually just finds a prebuild; only say something when a build is certain.
  if (tool !== 'node-gyp-build' && env.npm_config_nodedir && env.npm_config_nodedir !== process.env.npm_config_nodedir) {
    console.error(`tensorjit: building against the local Node headers in ${env.npm_config_nodedir}/include/node`);
  }
  const bin = binOf(tool);
  const result = bin
    ? spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit', env })
    : spawnSync(tool, args, { stdio: 'inherit', env, shell: process.platform === 'win32' });
  if (result.error) {
    console.error(result.error.message);
    process.exit(1);
  }
  process.exit(result.status ?? 1);
}
