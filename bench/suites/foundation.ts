/**
 * Issue 2's bench: eager kernels against this machine's limits, same run.
 * Memory-bound rows report GB/s (bytes read + written) and the fraction of STREAM
 * copy; compute-bound rows report GFLOP/s and the fraction of the FMA probe.
 */
import * as tj from '../../lib/index';
import { MachineLimits } from '../lib/probes';
import { Row } from '../lib/report';
import { time } from '../lib/timing';

interface Workload {
  name: string;
  kind: 'memory' | 'compute';
  amount: number; // bytes moved or flops
  setup: () => { run: () => unknown; dispose: () => void };
}

const M16 = 16 * 1024 * 1024;
const F = 4;

function unaryLike(name: string, fn: (x: tj.Tensor) => tj.Tensor): Workload {
  return {
    name: `${name} 16M`, kind: 'memory', amount: 2 * M16 * F,
    setup: () => {
      const x = tj.randn([M16]);
      return { run: () => fn(x).dispose(), dispose: () => x.dispose() };
    },
  };
}

function binaryLike(name: string, fn: (a: tj.Tensor, b: tj.Tensor) => tj.Tensor): Workload {
  return {
    name: `${name} 16M`, kind: 'memory', amount: 3 * M16 * F,
    setup: () => {
      const a = tj.randn([M16]), b = tj.randn([M16]);
      return { run: () => fn(a, b).dispose(), dispose: () => { a.dispose(); b.dispose(); } };
    },
  };
}

function matmulWorkload(n: number): Workload {
  return {
    name: `matmul ${n}`, kind: 'compute', amount: 2 * n * n * n,
    setup: () => {
      const a = tj.randn([n, n]), b = tj.randn([n, n]);
      return { run: () => tj.matmul(a, b).dispose(), dispose: () => { a.dispose(); b.dispose(); } };
    },
  };
}

export function foundationWorkloads(): Workload[] {
  const t = tj as unknown as Record<string, (...a: unknown[]) => tj.Tensor>;
  return [
    binaryLike('add', (a, b) => t.add(a, b)),
    binaryLike('mul', (a, b) => t.mul(a, b)),
    unaryLike('relu', (x) => t.relu(x)),
    unaryLike('exp', (x) => t.exp(x)),
    unaryLike('tanh', (x) => t.tanh(x)),
    unaryLike('gelu', (x) => t.gelu(x)),
    unaryLike('sigmoid', (x) => t.sigmoid(x)),
    { name: 'softmax [4096,4096] dim -1', kind: 'memory', amount: 2 * M16 * F,
      setup: () => { const x = tj.randn([4096, 4096]); return { run: () => t.softmax(x, -1).dispose(), dispose: () => x.dispose() }; } },
    { name: 'layerNorm [16384,1024]', kind: 'memory', amount: 2 * M16 * F,
      setup: () => { const x = tj.randn([16384, 1024]); return { run: () => t.layerNorm(x, [1024]).dispose(), dispose: () => x.dispose() }; } },
    { name: 'sum 16M (all)', kind: 'memory', amount: M16 * F,
      setup: () => { const x = tj.randn([M16]); return { run: () => t.sum(x).dispose(), dispose: () => x.dispose() }; } },
    { name: 'sum [4096,4096] dim 0', kind: 'memory', amount: M16 * F,
      setup: () => { const x = tj.randn([4096, 4096]); return { run: () => t.sum(x, 0).dispose(), dispose: () => x.dispose() }; } },
    { name: 'amax [4096,4096] dim -1', kind: 'memory', amount: M16 * F,
      setup: () => { const x = tj.randn([4096, 4096]); return { run: () => t.amax(x, -1).dispose(), dispose: () => x.dispose() }; } },
    matmulWorkload(256),
    matmulWorkload(512),
    matmulWorkload(1024),
  ];
}

export function runFoundation(limits: MachineLimits): Row[] {
  const rows: Row[] = [];
  for (const w of foundationWorkloads()) {
    let medianMs: number | null = null;
    try {
      const { run, dispose } = w.setup();
      medianMs = time(run).medianMs;
      dispose();
    } catch (e) {
      console.error(`skipped ${w.name}: ${(e as Error).message}`);
    }
    const rate = medianMs === null ? null : w.amount / (medianMs * 1e6);
    const peak = w.kind === 'memory' ? limits.copyGBs : limits.fmaGflops;
    rows.push({
      workload: w.name,
      'median ms': medianMs,
      rate: rate === null ? null : `${rate.toFixed(1)} ${w.kind === 'memory' ? 'GB/s' : 'GFLOP/s'}`,
      'of peak': rate === null || !peak ? null : `${((100 * rate) / peak).toFixed(0)}% of ${w.kind === 'memory' ? 'copy' : 'FMA'}`,
    });
  }
  return rows;
}
