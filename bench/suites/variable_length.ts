/**
 * An encoder served at the lengths requests come in: batch 1, lengths drawn at random
 * from [8, 256], so a compiled model meets new shapes (automatic dynamic shapes, an
 * executable per shape, tiering) while onnxruntime-node runs one graph with a dynamic
 * sequence axis. Two rows: a young server (after 128 requests, so many lengths are still
 * new) and a server in its steady state (every length served twice before). Rounds of
 * requests run each contender in turn (a rotating order; one untimed request first, as in
 * timeAlternating); a row gives the median over rounds of the mean time per request.
 */
import * as tj from '../../lib/index';
import { maxAbsDiff } from '../lib/compare';
import { MachineLimits } from '../lib/probes';
import { OnnxGraph, ortSession, ortTensor } from '../lib/onnx';
import { Row } from '../lib/report';
import { median } from '../lib/timing';
import { encoderModel } from './models';

const LAYERS = 6, MIN_LEN = 8, MAX_LEN = 256;
const YOUNG_AFTER = 128, ROUNDS = 4, REQUESTS_PER_ROUND = 32;

/** A seeded stream of request lengths (the same for every run of the bench). */
function requestLengths(count: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return MIN_LEN + Math.floor((state / 2 ** 31) * (MAX_LEN - MIN_LEN + 1));
  });
}

export async function runVariableLength(limits: MachineLimits): Promise<Row[]> {
  const model = encoderModel(LAYERS);
  const g = new OnnxGraph();
  model.onnx(g, 1, 'seq');
  const session = await ortSession(g, limits.threads);
  const compiled = tj.compile(model.fn);

  // one input per length, made once: a request's tensor exists before it is served
  const inputs = new Map<number, { x: tj.Tensor; feeds: Record<string, ReturnType<typeof ortTensor>> }>();
  const inputOf = (len: number) => {
    let input = inputs.get(len);
    if (!input) {
      tj.manualSeed(len);
      const x = tj.randn([1, len, model.hidden]);
      inputs.set(len, (input = { x, feeds: { x0: ortTensor(x) } }));
    }
    return input;
  };
  const [eager, compiledModel, ort] = [
    (len: number) => model.fn(inputOf(len).x).dispose(),
    (len: number) => (compiled(inputOf(len).x) as tj.Tensor).dispose(),
    (len: number) => session.run(inputOf(len).feeds),
  ];
  const serve = async (contender: (len: number) => unknown, lengths: number[]) => {
    const t0 = performance.now();
    for (const len of lengths) await contender(len);
    return (performance.now() - t0) / lengths.length;
  };
  const measure = async (what: string, seed: number): Promise<Row> => {
    const contenders = [eager, compiledModel, ort];
    const means: number[][] = contenders.map(() => []);
    let flops = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const lengths = requestLengths(REQUESTS_PER_ROUND, seed + round);
      flops += lengths.reduce((sum, len) => sum + model.flops(1, len), 0);
      for (let k = 0; k < contenders.length; k++) {
        const i = (round + k) % contenders.length;
        await contenders[i](lengths[0]);
        means[i].push(await serve(contenders[i], lengths));
      }
    }
    const [eagerMs, compiledMs, ortMs] = means.map(median);
    const gflops = flops / ROUNDS / REQUESTS_PER_ROUND / (compiledMs * 1e6);
    return {
      workload: `BERT encoder ${LAYERS} layers batch 1, requests of random length ${MIN_LEN}-${MAX_LEN}, ${what} (mean ms per request)`,
      'eager ms': eagerMs,
      'compiled ms': compiledMs,
      'onnxruntime ms': ortMs,
      'compiled vs eager': `${(eagerMs / compiledMs).toFixed(2)}x`,
      'compiled vs ort': `${(ortMs / compiledMs).toFixed(2)}x`,
      'compiled rate': `${gflops.toFixed(1)} GFLOP/s${limits.fmaGflops ? ` ${((100 * gflops) / limits.fmaGflops).toFixed(0)}% FMA` : ''}`,
    };
  };

  const young = requestLengths(YOUNG_AFTER, 7);
  for (const c of [eager, compiledModel, ort]) await serve(c, young);
  const rows = [await measure(`young server (${YOUNG_AFTER} requests served)`, 100)];
  const everyLength = Array.from({ length: MAX_LEN - MIN_LEN + 1 }, (_, i) => MIN_LEN + i);
  await serve(compiledModel, [...everyLength, ...everyLength]);
  await serve(ort, everyLength);
  rows.push(await measure('steady state (every length served twice before)', 200));

  // the answers, at one length
  const { x, feeds } = inputOf(100);
  const ortOut = (await session.run(feeds)).out.data as Float32Array;
  const eagerOut = model.fn(x), compiledOut = compiled(x) as tj.Tensor;
  for (const row of rows) {
    row['max |compiled-ort|'] = maxAbsDiff(compiledOut.dataSync() as Float32Array, ortOut);
    row['max |eager-ort|'] = maxAbsDiff(eagerOut.dataSync() as Float32Array, ortOut);
  }
  eagerOut.dispose();
  compiledOut.dispose();
  await session.release();
  for (const input of inputs.values()) input.x.dispose();
  return rows;
}
