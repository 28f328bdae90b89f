/**
 * One serving process of the serving suite (bench/suites/serving.ts): builds one workload
 * as eager code, as tj.compile (called, and through runAsync) and as an onnxruntime-node
 * session with the same seeded weights and thread count; then, on each message from the
 * coordinator, runs one of them in a loop for the given time and reports how many calls
 * finished and their median latency.
 */
import * as tj from '../../lib/index';
import { OnnxGraph, ortSession, ortTensor } from '../lib/onnx';
import { median } from '../lib/timing';
import { servingWorkloads, type Engine, type PhaseReport, type PhaseRequest } from './serving-protocol';

type Compiled = ((...xs: tj.Tensor[]) => tj.Tensor) & { runAsync(...xs: tj.Tensor[]): Promise<tj.Tensor> };

async function main() {
  const [key, threadsArg] = process.argv.slice(2);
  const w = servingWorkloads[key]?.();
  if (!w) throw new Error(`serving worker: unknown workload '${key}'`);
  const threads = Number(threadsArg);
  tj.setNumThreads(threads);
  const inputs = w.inputs();
  const compiled = (tj as unknown as { compile: (f: unknown) => Compiled }).compile(w.fn);
  const g = new OnnxGraph();
  w.onnx(g, inputs);
  const session = await ortSession(g, threads);
  const feeds = Object.fromEntries(inputs.map((x, i) => [`x${i}`, ortTensor(x)]));
  const engines: Record<Engine, () => unknown> = {
    eager: () => w.fn(...inputs).dispose(),
    compiled: () => compiled(...inputs).dispose(),
    runAsync: async () => (await compiled.runAsync(...inputs)).dispose(),
    ort: () => session.run(feeds),
  };
  for (const run of Object.values(engines)) for (let i = 0; i < 20; i++) await run();

  process.on('message', async (req: PhaseRequest | 'exit') => {
    if (req === 'exit') {
      await session.release();
      process.exit(0);
    }
    const run = engines[req.engine];
    const latencies: number[] = [];
    const start = performance.now();
    while (performance.now() - start < req.durationMs) {
      const t0 = performance.now();
      await run();
      latencies.push(performance.now() - t0);
    }
    const report: PhaseReport = { calls: latencies.length, wallMs: performance.now() - start, medianMs: median(latencies) };
    process.send!(report);
  });
  process.send!({ ready: w.name });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
