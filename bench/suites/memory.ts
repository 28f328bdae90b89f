/**
 * What dropping tensors costs: eager code that never calls dispose(), in one synchronous
 * stretch (no turn of the event loop in between), against the same code disposing as it
 * goes or inside tj.tidy. Dropped tensors come back through the garbage collector
 * (native/binding/gc_freed_buffer.h), so what matters is how much they hold meanwhile
 * and what the collections that free them cost.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as tj from '../../lib/index';
import { Row } from '../lib/report';
import { median } from '../lib/timing';
import { encoderWorkload, pointwiseChainSteps } from './models';

const M16 = 16 * 1024 * 1024;
const MiB = 1 << 20;
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
let gc: (() => void) | null = null;

/** Collects what earlier rows dropped, so each row starts from what it allocates itself. */
async function settle(): Promise<void> {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc'); // only this suite needs it, so it is set here
    gc = vm.runInNewContext('gc') as () => void;
  }
  for (let i = 0; i < 3; i++) {
    gc();
    await turn();
  }
}

/** The backend bench's ten-op chain, its intermediates disposed or dropped. */
function chain(x: tj.Tensor, dispose: boolean, onOp: () => void): tj.Tensor {
  let y = x;
  for (const op of pointwiseChainSteps(x)) {
    const z = op(y);
    if (dispose && y !== x) y.dispose();
    y = z;
    onOp();
  }
  return y;
}

/**
 * Runs `body` `reps` times back to back; ms per rep (median) and the peak of live bytes.
 * Settles first unless told not to.
 */
async function measure(name: string, reps: number, body: (onOp: () => void) => void, settleFirst = true): Promise<Row> {
  if (settleFirst) await settle();
  const base = tj.memory().liveBytes;
  let peak = base;
  const onOp = () => (peak = Math.max(peak, tj.memory().liveBytes));
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    body(onOp);
    ms.push(performance.now() - t0);
  }
  return {
    workload: name,
    'ms (median)': median(ms),
    'peak live MiB above start (after each op)': (peak - base) / MiB,
    'live MiB above start at the end': (tj.memory().liveBytes - base) / MiB,
  };
}

/** Live JS objects standing in for a server's heap (module-level, so they stay live). */
let serverHeap: object[] = [];
function fillServerHeap(mb: number): void {
  serverHeap = [];
  for (let i = 0; i < (mb * 1e6) / 130; i++) serverHeap.push({ id: i, name: `user${i % 1000}`, tags: [i] });
}

/** The current JS heap, as row labels give it. */
function heapLabel(): string {
  return `JS heap ${Math.round(v8.getHeapStatistics().used_heap_size / 1e6)} MB`;
}

/** 200 muls of 4 MiB, results dropped or disposed. */
async function mediumRows(): Promise<Row[]> {
  const x = tj.randn([MiB]);
  const label = `200 x tj.mul(x, 1.5) on 1M floats (4 MiB), ${heapLabel()}`;
  const rows = [
    // disposed first: the dropped row leaves garbage that later code pays to collect
    await measure(`${label}, results disposed`, 3, (onOp) => {
      for (let i = 0; i < 200; i++) (tj.mul(x, 1.5).dispose(), onOp());
    }, false),
    await measure(`${label}, results dropped`, 3, (onOp) => {
      for (let i = 0; i < 200; i++) (tj.mul(x, 1.5), onOp());
    }, false),
  ];
  x.dispose();
  return rows;
}

/**
 * A model served the way a Node service calls it: the BERT encoder layer at batch 8 (its
 * output 1.5 MiB), 20 calls per rep, each output read with dataSync() and then disposed or
 * dropped; compiled, and eager (where every intermediate is dropped too).
 */
async function servingRows(): Promise<Row[]> {
  const enc = encoderWorkload(8, 1);
  const inputs = enc.inputs();
  const compiled = tj.compile(enc.fn);
  const call = (f: (...xs: tj.Tensor[]) => tj.Tensor, dispose: boolean) => {
    const out = f(...inputs);
    if (Number.isNaN(out.dataSync()[0])) throw new Error('encoder output is NaN');
    if (dispose) out.dispose();
  };
  for (let i = 0; i < 3; i++) call(compiled, true);
  const label = `20 calls of the encoder layer batch 8 seq 128, output read, ${heapLabel()}`;
  const rows = [
    await measure(`${label}: compiled, output disposed`, 3, (onOp) => {
      for (let i = 0; i < 20; i++) (call(compiled, true), onOp());
    }, false),
    await measure(`${label}: compiled, output dropped`, 3, (onOp) => {
      for (let i = 0; i < 20; i++) (call(compiled, false), onOp());
    }, false),
    await measure(`${label}: eager, everything dropped`, 3, (onOp) => {
      for (let i = 0; i < 20; i++) (call(enc.fn, false), onOp());
    }, false),
  ];
  inputs.forEach((t) => t.dispose());
  return rows;
}

/**
 * The medium and serving rows beside `heapMB` MB of other live objects. No forced
 * collection once the heap is built: a server does not force any, and forced ones leave
 * V8 with tight heap limits, so that it marks the whole heap again and again.
 */
async function heapRows(heapMB: number): Promise<Row[]> {
  await settle();
  fillServerHeap(heapMB);
  await turn();
  const rows = [...(await mediumRows()), ...(await servingRows())];
  serverHeap = [];
  return rows;
}

export async function runMemory(): Promise<Row[]> {
  // Beside a small and a server-sized heap: a dropped tensor must be freed by the
  // young-generation collections, whose cost does not grow with the heap.
  const medium = [...(await heapRows(0)), ...(await heapRows(600))];
  const x = tj.randn([M16]);
  const rows = [
    await measure('40 x tj.mul(x, 1.5) on 16M floats, results dropped', 1, (onOp) => {
      for (let i = 0; i < 40; i++) (tj.mul(x, 1.5), onOp());
    }),
    await measure('40 x tj.mul(x, 1.5) on 16M floats, results disposed', 1, (onOp) => {
      for (let i = 0; i < 40; i++) (tj.mul(x, 1.5).dispose(), onOp());
    }),
    await measure('ten-op chain on 16M floats x 8, intermediates dropped', 8, (onOp) => chain(x, false, onOp).dispose()),
    await measure('ten-op chain on 16M floats x 8, intermediates disposed', 8, (onOp) => chain(x, true, onOp).dispose()),
    // a tidy frees at its end, so all ten results are live at once (a tidy per step would not)
    await measure('ten-op chain on 16M floats x 8, in one tj.tidy', 8, (onOp) => tj.tidy(() => chain(x, false, onOp)).dispose()),
  ];
  x.dispose();
  return [...medium, ...rows];
}
