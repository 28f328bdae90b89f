/**
 * This machine's limits, measured in the same run as the workloads they scale:
 * STREAM-style copy bandwidth (the native copy kernel over 16M floats: 64 MB read +
 * 64 MB written) and FMA throughput (the native fma_probe kernel: independent FMA
 * chains on every thread).
 */
import * as tj from '../../lib/index';
import { native, hasKernel, kernelId } from '../../lib/native';
import { copyInto, packTensors } from '../../lib/tensor';
import { time } from './timing';

export interface MachineLimits {
  copyGBs: number;
  fmaGflops: number | null;
  threads: number;
  isa: string;
}

export function measureCopyGBs(numel = 16 * 1024 * 1024): number {
  const src = tj.rand([numel]);
  const dst = tj.zeros([numel]);
  const t = time(() => copyInto(dst, src), { budgetMs: 600 });
  src.dispose();
  dst.dispose();
  return (2 * numel * 4) / (t.medianMs * 1e6);
}

/** GFLOP/s of FMA chains: attrs [iterations]; each iteration is 2 flops x lanes x chains. */
export function measureFmaGflops(): number | null {
  if (!hasKernel('fma_probe')) return null;
  const id = kernelId('fma_probe');
  const out = tj.zeros([1]);
  const flopsPerCall = Number(process.env.TJ_FMA_PROBE_FLOPS ?? 0);
  // The probe reports how many flops it did through its output (float), so the
  // bench does not need to know its register layout.
  const run = () => {
    const { buffers, meta } = packTensors([out]);
    native.exec(id, buffers, meta, 0, new Float64Array([1 << 22]));
  };
  const t = time(run, { budgetMs: 600 });
  const flops = flopsPerCall || (out.item() as number);
  out.dispose();
  return flops / (t.medianMs * 1e6);
}

export function measureLimits(): MachineLimits {
  return { copyGBs: measureCopyGBs(), fmaGflops: measureFmaGflops(), threads: tj.getNumThreads(), isa: tj.isa().selected };
}
