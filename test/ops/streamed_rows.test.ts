/**
 * Row kernels whose output is 16 MiB or more write it once with non-temporal stores
 * (softmax, logSoftmax, layerNorm): each row must give the same bits as the same row
 * computed alone (a small output, cached stores), also when rows start mid-vector.
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { randomValues } from '../helpers/reference';

const ROWS = 1100, COLS = 4001; // 17.6 MB of float32; odd rows start mid-vector

function expectRowsMatch(big: tj.Tensor, alone: (r: number) => tj.Tensor, what: string) {
  const all = big.dataSync() as Float32Array;
  for (const r of [0, 1, 547, ROWS - 1]) {
    const row = alone(r).dataSync() as Float32Array;
    for (let c = 0; c < COLS; c++) {
      if (!Object.is(all[r * COLS + c], row[c])) expect.fail(`${what} row ${r} col ${c}: ${all[r * COLS + c]} vs ${row[c]} alone`);
    }
  }
}

describe('streamed row outputs', () => {
  const x = tj.tensor(Float32Array.from(randomValues(ROWS * COLS, 21, 'float32', -6, 6)), { shape: [ROWS, COLS] });
  const row = (r: number) => x.narrow(0, r, 1).contiguous();

  test('softmax', () => {
    const y = tj.softmax(x, -1);
    expectRowsMatch(y, (r) => tj.softmax(row(r), -1), 'softmax');
    const sums = tj.sum(y, -1).dataSync() as Float32Array;
    for (const s of sums) expect(Math.abs(s - 1)).toBeLessThan(1e-5);
  });

  test('logSoftmax', () => {
    expectRowsMatch(tj.logSoftmax(x, -1), (r) => tj.logSoftmax(row(r), -1), 'logSoftmax');
  });

  test('layerNorm with weight and bias, and without', () => {
    const w = tj.tensor(Float32Array.from(randomValues(COLS, 22)), { shape: [COLS] });
    const b = tj.tensor(Float32Array.from(randomValues(COLS, 23)), { shape: [COLS] });
    expectRowsMatch(tj.layerNorm(x, [COLS], w, b), (r) => tj.layerNorm(row(r), [COLS], w, b), 'layerNorm');
    const y = tj.layerNorm(x, [COLS]);
    expectRowsMatch(y, (r) => tj.layerNorm(row(r), [COLS]), 'layerNorm (no affine)');
    const first = (y.narrow(0, 0, 1).dataSync() as Float32Array).reduce((a, v) => a + v, 0);
    expect(Math.abs(first / COLS)).toBeLessThan(1e-5); // normalised: mean 0
  });
});
