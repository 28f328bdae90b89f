import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { expectClose, makeTensor, randomValues, toRef, Layout } from '../../helpers/reference';

const linear = (tj as unknown as { linear: (x: tj.Tensor, w: tj.Tensor, b?: tj.Tensor | null) => tj.Tensor }).linear;

describe('prepacked constant weights', () => {
  const cases: [number[], number, number, boolean, Layout][] = [
    [[1, 64], 64, 48, true, 'contiguous'],
    [[5, 33], 33, 17, false, 'contiguous'],
    [[2, 3, 40], 40, 24, true, 'contiguous'],
    [[7, 20], 20, 9, true, 'transposed'],
    [[4, 6, 10], 10, 12, true, 'sliced'],
    [[10], 10, 3, true, 'contiguous'],
  ];
  test.each(cases)('linear x%j (%i -> %i, bias %s, %s x) matches eager', (xShape, k, n, bias, layout) => {
    const w = makeTensor(randomValues(n * k, 11), [n, k]);
    const b = bias ? makeTensor(randomValues(n, 12), [n]) : null;
    const graph = (x: unknown) => linear(x as tj.Tensor, w, b);
    const compiled = compileNative(graph);
    const x = makeTensor(randomValues(xShape.reduce((a, c) => a * c, 1), 13), xShape, 'float32', layout);
    const got = compiled(x) as tj.Tensor;
    expect(compiled.lastProgram()!.describe()).toMatch(/linear\[prepacked/);
    expectClose(got, toRef(graph(x) as tj.Tensor), { rtol: 1e-4, atol: 1e-4 });
  });

  test('an in-place update of the weight after compiling is seen', () => {
    const w = tj.ones([3, 2]);
    const compiled = compileNative((x: unknown) => linear(x as tj.Tensor, w));
    const x = tj.tensor([[1, 2]]);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([[3, 3, 3]]);
    w.copy_(tj.full([3, 2], 2));
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([[6, 6, 6]]);
  });
});
