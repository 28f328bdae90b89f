#!/usr/bin/env node
// Runs vitest against an AddressSanitizer + UBSan build of the addon.
//   node scripts/cmake-native.cjs addon build-asan -DTJ_SANITIZE=address,undefined   (npm run build:asan)
//   node scripts/sanitize-test.cjs build-asan test/ops test/backends                  (npm run test:asan)
// Node itself is not instrumented, so the ASan runtime must be loaded first (LD_PRELOAD) and
// leak detection is off (Node's own allocations outlive exit). Reports go to
// <buildDir>/sanitizer-logs/{asan,ubsan}.<pid> (test workers are forked processes whose
// stderr vitest may swallow); this script prints them and fails if there are any, or if
// any report shows up in the test output.
'use strict';
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const [dirArg = 'build-asan', ...vitestArgs] = process.argv.slice(2);
const buildDir = path.resolve(root, dirArg);
const addon = path.join(buildDir, 'tensorjit.node');
if (!fs.existsSync(addon)) {
  console.error(`no ${addon}: build it with node scripts/cmake-native.cjs addon ${dirArg} -DTJ_SANITIZE=address,undefined`);
  process.exit(2);
}

const cxx = process.env.CXX || 'g++';
const runtime = (name) => execFileSync(cxx, [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
const libasan = runtime('libasan.so');
if (!path.isAbsolute(libasan)) {
  console.error(`${cxx} does not know libasan.so (got '${libasan}')`);
  process.exit(2);
}

const logDir = path.join(buildDir, 'sanitizer-logs');
fs.rmSync(logDir, { recursive: true, force: true });
fs.mkdirSync(logDir, { recursive: true });
const env = {
  ...process.env,
  TENSORJIT_ADDON: addon,
  LD_PRELOAD: [libasan, process.env.LD_PRELOAD].filter(Boolean).join(' '),
  ASAN_OPTIONS: `detect_leaks=0:log_path=${logDir}/asan:${process.env.ASAN_OPTIONS || ''}`,
  UBSAN_OPTIONS: `print_stacktrace=1:log_path=${logDir}/ubsan:${process.env.UBSAN_OPTIONS || ''}`,
};
const vitestPkg = require.resolve('vitest/package.json', { paths: [root] });
const vitest = path.join(path.dirname(vitestPkg), require(vitestPkg).bin.vitest);
// Some reports reach the workers' stderr instead of log_path (UBSan's, in forked test
// workers), and vitest prints them: the output is passed through and scanned as well.
const reportLine = /runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer/;
let printedReports = 0;
const child = spawn(process.execPath, [vitest, 'run', ...vitestArgs], { stdio: ['inherit', 'pipe', 'pipe'], env, cwd: root });
for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
  let partial = '';
  from.on('data', (chunk) => {
    to.write(chunk);
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop();
    for (const line of lines) if (reportLine.test(line)) printedReports++;
  });
  from.on('end', () => {
    if (reportLine.test(partial)) printedReports++;
  });
}
child.on('close', (status) => {
  const logs = fs.readdirSync(logDir).sort();
  for (const log of logs) {
    console.log(`\n===== ${path.join(logDir, log)}`);
    process.stdout.write(fs.readFileSync(path.join(logDir, log), 'utf8'));
  }
  console.log(`\nsanitizer reports: ${logs.length} file(s) in ${logDir}, ${printedReports} in the test output; vitest exit status ${status}`);
  process.exit(logs.length || printedReports ? 1 : status ?? 1);
});
