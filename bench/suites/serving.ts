/**
 * Serving throughput with several Node processes on one machine, the way a Node service
 * scales out (cluster mode, one process per core), each process leaving tensorjit and
 * onnxruntime-node at their defaults: as many intra-op threads as cores. So the machine
 * runs processes x cores compute threads on its cores: a thread pool that spins for its
 * next region, or waits for a worker that is not running, loses throughput here. Each row:
 * calls per second of all processes together, one engine at a time, the engines
 * alternating in rounds; beside it, one process alone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { MachineLimits } from '../lib/probes';
import { Row } from '../lib/report';
import { median } from '../lib/timing';
import { servingWorkloads, type Engine, type PhaseReport, type PhaseRequest } from './serving-protocol';

const engines: Engine[] = ['eager', 'compiled', 'runAsync', 'ort'];
const phaseMs = 1000;
const rounds = 3;

/** A started serving process and the name of the workload it built. */
function startWorker(key: string, threads: number): Promise<{ child: ChildProcess; name: string }> {
  // fork inherits this process's execArgv (--import tsx under `npm run bench`)
  const child = fork(path.join(__dirname, 'serving-worker.ts'), [key, String(threads)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return reply(child, `starting ${key}`).then((m) => {
    const name = (m as { ready?: unknown } | null)?.ready;
    if (typeof name !== 'string') throw new Error(`serving worker: ${String(m)}`);
    return { child, name };
  });
}

/** The child's next message; an error if it exits first. */
function reply(child: ChildProcess, during: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`serving worker exited with ${code} while ${during}`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m);
    });
  });
}

function runPhase(children: ChildProcess[], engine: Engine): Promise<PhaseReport[]> {
  return Promise.all(
    children.map((child) => {
      const report = reply(child, `running ${engine}`) as Promise<PhaseReport>;
      child.send({ engine, durationMs: phaseMs } satisfies PhaseRequest);
      return report;
    }),
  );
}

const callsPerSecond = (reports: PhaseReport[]) => reports.reduce((sum, r) => sum + (r.calls * 1000) / r.wallMs, 0);

async function servingRow(key: string, processes: number, threads: number): Promise<Row> {
  const children: ChildProcess[] = [];
  let name = key;
  try {
    for (let i = 0; i < processes; i++) {
      const started = await startWorker(key, threads);
      children.push(started.child);
      name = started.name;
    }
    const perEngine = () => Object.fromEntries(engines.map((e) => [e, [] as number[]])) as Record<Engine, number[]>;
    const together = perEngine(), alone = perEngine(), latency = perEngine();
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < engines.length; k++) {
        const engine = engines[(round + k) % engines.length];
        const reports = await runPhase(children, engine);
        together[engine].push(callsPerSecond(reports));
        latency[engine].push(median(reports.map((r) => r.medianMs)));
        alone[engine].push(callsPerSecond(await runPhase(children.slice(0, 1), engine)));
      }
    }
    const rate = (e: Engine) => median(together[e]);
    // ms per call of the machine as a whole, so the ratios read as in the backend table
    const msPerCall = (e: Engine) => 1000 / rate(e);
    return {
      workload: `${name}: ${processes} processes x ${threads} threads at once (ms per call of all together)`,
      'eager ms': msPerCall('eager'),
      'compiled ms': msPerCall('compiled'),
      'onnxruntime ms': msPerCall('ort'),
      'compiled vs eager': `${(rate('compiled') / rate('eager')).toFixed(2)}x`,
      'compiled vs ort': `${(rate('compiled') / rate('ort')).toFixed(2)}x`,
      'compiled rate':
        `${rate('compiled').toFixed(0)} calls/s, runAsync ${rate('runAsync').toFixed(0)} (ort ${rate('ort').toFixed(0)}); ` +
        `one process alone ${median(alone.compiled).toFixed(0)}, runAsync ${median(alone.runAsync).toFixed(0)} ` +
        `(ort ${median(alone.ort).toFixed(0)}); latency p50 ${median(latency.compiled).toFixed(3)} ms, ` +
        `runAsync ${median(latency.runAsync).toFixed(3)} (ort ${median(latency.ort).toFixed(3)})`,
    };
  } finally {
    for (const child of children) if (child.connected) child.send('exit');
  }
}

export async function runServing(limits: MachineLimits): Promise<Row[]> {
  const processes = Math.max(2, limits.threads);
  const rows: Row[] = [];
  for (const key of Object.keys(servingWorkloads)) rows.push(await servingRow(key, processes, limits.threads));
  return rows;
}
