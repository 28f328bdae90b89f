/**
 * `npm run bench [-- suite...]`: every figure is measured in this run, beside this
 * machine's copy bandwidth and FMA throughput. Suites: foundation (eager kernels
 * vs machine limits), backend (eager vs compiled vs onnxruntime-node), compiler (the
 * per-call overhead of tj.compile and trace+compile time), memory (what tensors dropped
 * without dispose() hold), serving (throughput of one process per core, all at once).
 */
import * as tj from '../lib/index';
import { measureLimits } from './lib/probes';
import { machineDescription, markdownTable, writeJson } from './lib/report';
import { runBackend } from './suites/backend';
import { runFoundation } from './suites/foundation';
import { runCompiler } from './suites/compiler';
import { runMemory } from './suites/memory';
import { runServing } from './suites/serving';

const suites: Record<string, (limits: ReturnType<typeof measureLimits>) => Promise<unknown> | unknown> = {
  foundation: (limits) => runFoundation(limits),
  backend: (limits) => runBackend(limits),
  compiler: () => runCompiler(),
  memory: () => runMemory(),
  serving: (limits) => runServing(limits),
};

async function main() {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length ? wanted : Object.keys(suites);
  const limits = measureLimits();
  const machine = machineDescription();
  console.log(`# tensorjit bench\n\n${JSON.stringify(machine)}\n`);
  console.log(`threads ${limits.threads}, ISA ${limits.isa}; STREAM copy ${limits.copyGBs.toFixed(1)} GB/s; ` +
    `FMA probe ${limits.fmaGflops === null ? 'n/a' : limits.fmaGflops.toFixed(1) + ' GFLOP/s'}\n`);
  const results: Record<string, unknown> = {};
  for (const name of names) {
    const suite = suites[name];
    if (!suite) throw new Error(`unknown suite '${name}' (have: ${Object.keys(suites).join(', ')})`);
    const rows = await suite(limits);
    results[name] = rows;
    console.log(`## ${name}\n\n${markdownTable(rows as never)}\n`);
  }
  const file = writeJson('bench', { machine, limits, results, date: new Date().toISOString() });
  console.log(`JSON: ${file}`);
  void tj;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
