/** View ops: results share storage with their input (zero-copy), plus reshape/contiguous. */
import { Tensor, contiguousStrides, describeTensor, shapeNumel } from '../tensor';
import { defineOp, ViewSpec } from './registry';
import { expectInt, expectTensor, listText, normalizeDim, typeName, valueText } from './checks';

function viewOf(base: Tensor, shape: number[], strides: number[], offset = base.offset): ViewSpec {
  return { base, shape, strides, offset };
}

/** Resolves one -1 in a requested shape against numel. */
function inferShape(op: string, x: Tensor, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: argument 'shape' must be an array, got ${typeName(shape)}`);
  const numel = x.numel();
  let infer = -1;
  let known = 1;
  const out = shape.map((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < -1)
      throw new RangeError(`${op}: invalid size ${String(d)} in shape ${listText(shape)}`);
    if (d === -1) {
      if (infer >= 0) throw new RangeError(`${op}: only one dimension can be inferred in ${listText(shape)}`);
      infer = i;
      return -1;
    }
    known *= d;
    return d;
  });
  if (infer >= 0) {
    if (known === 0 || numel % known !== 0)
      throw new RangeError(`${op}: shape [${shape.join(', ')}] is invalid for input ${describeTensor(x)} of size ${numel}`);
    out[infer] = numel / known;
  } else if (known !== numel) {
    throw new RangeError(`${op}: shape [${shape.join(', ')}] is invalid for input ${describeTensor(x)} of size ${numel}`);
  }
  return out;
}

/**
 * Strides for viewing x as `shape` without copying, or null when the memory layout
 * does not allow it (torch's computeStride: split/merge only within contiguous chunks).
 */
export function viewStrides(x: Tensor, shape: number[]): number[] | null {
  if (x.numel() === 0 || x.ndim === 0) return contiguousStrides(shape);
  const oldShape = x.shape, oldStrides = x.strides;
  const newStrides = new Array<number>(shape.length);
  let viewD = shape.length - 1;
  let chunkBaseStride = oldStrides[oldStrides.length - 1];
  let tensorNumel = 1, viewNumel = 1;
  for (let d = oldShape.length - 1; d >= 0; d--) {
    tensorNumel *= oldShape[d];
    if (d === 0 || (oldShape[d - 1] !== 1 && oldStrides[d - 1] !== tensorNumel * chunkBaseStride)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || shape[viewD] === 1)) {
        newStrides[viewD] = viewNumel * chunkBaseStride;
        viewNumel *= shape[viewD];
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBaseStride = oldStrides[d - 1];
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return null;
  return newStrides;
}

const restDims = (op: string, rest: unknown[]): unknown => (rest.length === 1 && Array.isArray(rest[0]) ? rest[0] : rest);

/** `x.view(shape)`: a view with a new shape; fails if the layout needs a copy (use reshape). */
export const view = defineOp({
  name: 'view',
  method: true,
  view: (x: Tensor, ...shape: (number | number[])[]) => {
    expectTensor('view', 'input', x);
    const s = inferShape('view', x, restDims('view', shape));
    const strides = viewStrides(x, s);
    if (!strides)
      throw new RangeError(`view: cannot view ${describeTensor(x)} with strides [${x.strides.join(', ')}] as [${s.join(', ')}]; use reshape`);
    return viewOf(x, s, strides);
  },
});

/** A copy of x into fresh contiguous memory. */
export const clone = defineOp({
  name: 'clone',
  method: true,
  kernels: ['copy'],
  kernel: (x: Tensor) => {
    expectTensor('clone', 'input', x);
    return { kernel: 'copy', inputs: [x], attrs: [], outputs: [{ shape: x.shape.slice(), dtype: x.dtype }] };
  },
});

/** x itself when already contiguous, else a contiguous copy. */
export const contiguous = defineOp({
  name: 'contiguous',
  method: true,
  decompose: (x: Tensor): Tensor => (expectTensor('contiguous', 'input', x).isContiguous() ? x : clone(x)),
});

/** `reshape(x, shape)`: a view when the layout allows, else a copy. */
export const reshape = defineOp({
  name: 'reshape',
  method: true,
  decompose: (x: Tensor, ...shape: (number | number[])[]): Tensor => {
    expectTensor('reshape', 'input', x);
    const s = inferShape('reshape', x, restDims('reshape', shape));
    return viewStrides(x, s) ? view(x, s) : view(clone(x), s);
  },
});

export const flatten = defineOp({
  name: 'flatten',
  method: true,
  decompose: (x: Tensor, startDim: number = 0, endDim: number = -1): Tensor => {
    expectTensor('flatten', 'input', x);
    if (x.ndim === 0) return reshape(x, [1]);
    const s = normalizeDim('flatten', startDim, x.ndim, 'startDim');
    const e = normalizeDim('flatten', endDim, x.ndim, 'endDim');
    if (s > e) throw new RangeError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
    const shape = [...x.shape.slice(0, s), shapeNumel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
    return reshape(x, shape);
  },
});

export const transpose = defineOp({
  name: 'transpose',
  method: true,
  view: (x: Tensor, dim0: number, dim1: number) => {
    expectTensor('transpose', 'input', x);
    const a = normalizeDim('transpose', dim0, x.ndim, 'dim0'), b = normalizeDim('transpose', dim1, x.ndim, 'dim1');
    const shape = x.shape.slice(), strides = x.strides.slice();
    if (x.ndim > 0) {
      [shape[a], shape[b]] = [shape[b], shape[a]];
      [strides[a], strides[b]] = [strides[b], strides[a]];
    }
    return viewOf(x, shape, strides);
  },
});

/** `permute(x, dims)`; as a method also `x.permute(0, 2, 1)`. */
export const permute = defineOp({
  name: 'permute',
  method: true,
  view: (x: Tensor, ...dimsArg: (number | number[])[]) => {
    expectTensor('permute', 'input', x);
    const dims = restDims('permute', dimsArg) as unknown[];
    if (!Array.isArray(dims) || dims.length !== x.ndim)
      throw new RangeError(`permute: dims ${valueText(dims)} must list each of the ${x.ndim} dims of ${describeTensor(x)} once`);
    const norm = dims.map((d) => normalizeDim('permute', d, x.ndim, 'dims'));
    if (new Set(norm).size !== norm.length) throw new RangeError(`permute: repeated dim in [${dims.join(', ')}]`);
    return viewOf(x, norm.map((d) => x.shape[d]), norm.map((d) => x.strides[d]));
  },
});

/** Broadcast view: sizes of -1 keep the dim; new leading dims and size-1 dims get stride 0. */
export const expand = defineOp({
  name: 'expand',
  method: true,
  view: (x: Tensor, ...sizesArg: (number | number[])[]) => {
    expectTensor('expand', 'input', x);
    const sizes = restDims('expand', sizesArg) as number[];
    if (!Array.isArray(sizes) || sizes.length < x.ndim)
      throw new RangeError(`expand: target ${valueText(sizes)} has fewer dims than ${describeTensor(x)}`);
    const lead = sizes.length - x.ndim;
    const shape: number[] = [], strides: number[] = [];
    sizes.forEach((want, i) => {
      expectInt('expand', 'sizes', want, -1);
      const d = i - lead;
      if (d < 0) {
        if (want < 0) throw new RangeError(`expand: -1 is not allowed for a new leading dim in ${listText(sizes)}`);
        shape.push(want);
        strides.push(0);
        return;
      }
      const have = x.shape[d];
      const size = want === -1 ? have : want;
      if (have !== size && have !== 1)
        throw new RangeError(`expand: cannot expand ${describeTensor(x)} to ${listText(sizes)} (dim ${i}: ${have} vs ${size})`);
      shape.push(size);
      strides.push(have === size ? x.strides[d] : 0);
    });
    return viewOf(x, shape, strides);
  },
});

export const squeeze = defineOp({
  name: 'squeeze',
  method: true,
  view: (x: Tensor, dim?: number | number[] | null) => {
    expectTensor('squeeze', 'input', x);
    const dims = dim === undefined || dim === null
      ? x.shape.map((_, i) => i)
      : (Array.isArray(dim) ? dim : [dim]).map((d) => normalizeDim('squeeze', d, x.ndim));
    const keep = x.shape.map((s, i) => !(s === 1 && dims.includes(i)));
    return viewOf(x, x.shape.filter((_, i) => keep[i]), x.strides.filter((_, i) => keep[i]));
  },
});

export const unsqueeze = defineOp({
  name: 'unsqueeze',
  method: true,
  view: (x: Tensor, dim: number) => {
    expectTensor('unsqueeze', 'input', x);
    const d = normalizeDim('unsqueeze', dim, x.ndim + 1);
    const shape = x.shape.slice(), strides = x.strides.slice();
    const stride = d < x.ndim ? x.shape[d] * x.strides[d] : 1;
    shape.splice(d, 0, 1);
    strides.splice(d, 0, stride);
    return viewOf(x, shape, strides);
  },
});

export const narrow = defineOp({
  name: 'narrow',
  method: true,
  view: (x: Tensor, dim: number, start: number, length: number) => {
    expectTensor('narrow', 'input', x);
    if (x.ndim === 0) throw new RangeError('narrow: cannot narrow a 0-d tensor');
    const d = normalizeDim('narrow', dim, x.ndim);
    expectInt('narrow', 'start', start);
    expectInt('narrow', 'length', length, 0);
    const s = start < 0 ? start + x.shape[d] : start;
    if (s < 0 || s + length > x.shape[d])
      throw new RangeError(`narrow: start ${start} + length ${length} exceeds dim ${dim} of ${describeTensor(x)}`);
    const shape = x.shape.slice();
    shape[d] = length;
    return viewOf(x, shape, x.strides.slice(), x.offset + s * x.strides[d]);
  },
});

export const select = defineOp({
  name: 'select',
  method: true,
  view: (x: Tensor, dim: number, index: number) => {
    expectTensor('select', 'input', x);
    if (x.ndim === 0) throw new RangeError('select: cannot select from a 0-d tensor');
    const d = normalizeDim('select', dim, x.ndim);
    expectInt('select', 'index', index);
    const i = index < 0 ? index + x.shape[d] : index;
    if (i < 0 || i >= x.shape[d])
      throw new RangeError(`select: index ${index} is out of range for dim ${dim} of ${describeTensor(x)}`);
    const shape = x.shape.slice(), strides = x.strides.slice();
    shape.splice(d, 1);
    strides.splice(d, 1);
    return viewOf(x, shape, strides, x.offset + i * x.strides[d]);
  },
});

/** Python slicing `x[start:end:step]` along dim; start/end clamp, negatives count from the end. */
export const slice = defineOp({
  name: 'slice',
  method: true,
  view: (x: Tensor, dim: number = 0, start: number | null = 0, end: number | null = null, step: number = 1) => {
    expectTensor('slice', 'input', x);
    if (x.ndim === 0) throw new RangeError('slice: cannot slice a 0-d tensor');
    const d = normalizeDim('slice', dim, x.ndim);
    expectInt('slice', 'step', step, 1);
    const n = x.shape[d];
    const clampIdx = (v: number | null | undefined, dflt: number) => {
      if (v === null || v === undefined) return dflt;
      expectInt('slice', 'start/end', v);
      const r = v < 0 ? v + n : v;
      return Math.min(Math.max(r, 0), n);
    };
    const s = clampIdx(start, 0);
    const e = Math.max(clampIdx(end, n), s);
    const len = Math.ceil((e - s) / step);
    const shape = x.shape.slice(), strides = x.strides.slice();
    shape[d] = len;
    strides[d] = x.strides[d] * step;
    return viewOf(x, shape, strides, x.offset + (len > 0 ? s * x.strides[d] : 0));
  },
});
