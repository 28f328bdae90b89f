/**
 * The only place that loads the compiled addon. The interface below types exactly
 * what native/binding/addon.cc exports.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';

export interface MemoryStats { liveBytes: number; peakBytes: number; cachedBytes: number; liveBlocks: number; liveBuffers: number }

export interface NativeAddon {
  /** A new ArrayBuffer from the caching allocator (64-byte aligned). */
  alloc(bytes: number, zeroFill?: boolean): ArrayBuffer;
  /** Returns an alloc()'d buffer's block now and detaches the buffer. */
  free(buffer: ArrayBuffer): void;
  /** Keeps an alloc()'d buffer for reuse (counted as cached); false while native code holds it. */
  park(buffer: ArrayBuffer): boolean;
  /** Takes a parked buffer back into use (counted as live again). */
  unpark(buffer: ArrayBuffer, zeroFill?: boolean): void;
  /** Runs kernel `id` over packed tensors: inputs first, then outputs (see packTensors). */
  exec(id: number, buffers: ArrayBuffer[], meta: Float64Array, numInputs: number, attrs: Float64Array): void;
  kernelNames(): string[];
  kernelIsa(id: number): string;
  isaInfo(): { selected: string; best: string };
  setNumThreads(n: number): void;
  getNumThreads(): number;
  memoryStats(): MemoryStats;
  emptyCache(): void;
  resetPeakBytes(): void;
}

function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'tensorjit') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('tensorjit: cannot find the package root to load the native addon');
    dir = up;
  }
}

function load(): NativeAddon {
  // TENSORJIT_ADDON points at a specific build (cmake-js, sanitizer builds).
  const override = process.env.TENSORJIT_ADDON;
  if (override) return require(path.resolve(override)) as NativeAddon;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
  return nodeGypBuild(packageRoot());
}

export const native: NativeAddon = load();

const kernelIds = new Map<string, number>(native.kernelNames().map((n, i) => [n, i]));

/** Native kernel id for a registry kernel name; throws if the addon lacks it. */
export function kernelId(name: string): number {
  const id = kernelIds.get(name);
  if (id === undefined) throw new Error(`tensorjit: the native addon has no kernel '${name}' (rebuild the addon?)`);
  return id;
}

export function hasKernel(name: string): boolean {
  return kernelIds.has(name);
}
