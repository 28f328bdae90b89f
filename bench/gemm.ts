/**
 * The compute-bound ops beside this machine's FMA peak, measured in the same run:
 *   node --import tsx bench/gemm.ts [--threads n]
 * matmul 256..2048, linear shapes of the MLP/encoder workloads, the 3x3 conv block and
 * BERT-sized attention, each as GFLOP/s and as a fraction of the fma_probe kernel.
 * The probe is re-measured before each row (the fraction is against the nearer one),
 * so load from other processes shows up in both halves of the ratio alike.
 */
import * as tj from '../lib/index';
import { measureFmaGflops } from './lib/probes';
import { time } from './lib/timing';

interface Row {
  name: string;
  flops: number;
  setup: () => { run: () => void; dispose: () => void };
}

const rows: Row[] = [];
for (const n of [256, 512, 1024, 2048]) {
  rows.push({
    name: `matmul ${n}`, flops: 2 * n ** 3,
    setup: () => {
      const a = tj.rand([n, n]), b = tj.rand([n, n]);
      return { run: () => tj.matmul(a, b).dispose(), dispose: () => { a.dispose(); b.dispose(); } };
    },
  });
}
for (const [m, k, n] of [[64, 1024, 1024], [1, 784, 1024], [128, 384, 1536], [1024, 384, 1536], [128, 1536, 384]]) {
  rows.push({
    name: `linear ${m}x${k}->${n}`, flops: 2 * m * k * n,
    setup: () => {
      const x = tj.rand([m, k]), w = tj.rand([n, k]), b = tj.rand([n]);
      return { run: () => tj.linear(x, w, b).dispose(), dispose: () => { x.dispose(); w.dispose(); b.dispose(); } };
    },
  });
}
rows.push({
  name: 'conv2d 64->64 3x3 56x56', flops: 2 * 64 * 64 * 9 * 56 * 56,
  setup: () => {
    const x = tj.rand([1, 64, 56, 56]), w = tj.rand([64, 64, 3, 3]), b = tj.rand([64]);
    return { run: () => tj.conv2d(x, w, b, { padding: 1 }).dispose(), dispose: () => { x.dispose(); w.dispose(); b.dispose(); } };
  },
});
for (const batch of [1, 8]) {
  rows.push({
    name: `sdpa ${batch}x12x128x32`, flops: 4 * batch * 12 * 128 * 128 * 32,
    setup: () => {
      const q = tj.rand([batch, 12, 128, 32]), k = tj.rand([batch, 12, 128, 32]), v = tj.rand([batch, 12, 128, 32]);
      return { run: () => tj.scaledDotProductAttention(q, k, v).dispose(), dispose: () => { q.dispose(); k.dispose(); v.dispose(); } };
    },
  });
}

const threadsArg = process.argv.indexOf('--threads');
if (threadsArg > 0) tj.setNumThreads(Number(process.argv[threadsArg + 1]));
console.log(`threads ${tj.getNumThreads()}, ISA ${tj.isa().selected}\n`);
console.log('| workload | ms (median) | GFLOP/s | FMA probe GFLOP/s | % of probe |');
console.log('|---|---|---|---|---|');
for (const row of rows) {
  const probe = measureFmaGflops() ?? NaN;
  const w = row.setup();
  const t = time(w.run, { budgetMs: 1000 });
  w.dispose();
  const gf = row.flops / (t.medianMs * 1e6);
  console.log(`| ${row.name} | ${t.medianMs.toFixed(3)} | ${gf.toFixed(1)} | ${probe.toFixed(1)} | ${((100 * gf) / probe).toFixed(1)}% |`);
}
