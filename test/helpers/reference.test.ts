import { expect, test } from 'vitest';
import { makeTensor, toRef, LAYOUTS, refMap, ref } from './reference';

test('makeTensor gives the same logical values in every layout', () => {
  const vals = Array.from({ length: 24 }, (_, i) => i);
  for (const layout of LAYOUTS) {
    const t = makeTensor(vals, [2, 3, 4], 'float32', layout);
    expect(Array.from(toRef(t).data), layout).toEqual(vals);
    if (layout !== 'contiguous') expect(t.isContiguous(), layout).toBe(false);
  }
});

test('refMap broadcasts like NumPy', () => {
  const r = refMap([ref([2, 1], [1, 2]), ref([3], [10, 20, 30])], (a, b) => a + b);
  expect(r.shape).toEqual([2, 3]);
  expect(Array.from(r.data)).toEqual([11, 21, 31, 12, 22, 32]);
});
