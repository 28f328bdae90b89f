/**
 * Data movement: cat/stack/split, gather/indexSelect/embedding, and the in-place copies
 * inference code needs (copy_, indexCopy_). Kernels live in native/kernels/index/.
 */
import { DType, promoteTypes } from '../dtype';
import { Tensor, describeTensor, shapeNumel } from '../tensor';
import { defineOp, KernelCall } from './registry';
import { broadcastShapes, expectDType, expectInt, expectTensor, normalizeDim, typeName } from './checks';
import { narrow, unsqueeze } from './views';

const INDEX_DTYPES: readonly DType[] = ['int64', 'int32'];

function expectTensorList(op: string, arg: string, xs: unknown): Tensor[] {
  if (!Array.isArray(xs)) throw new TypeError(`${op}: argument '${arg}' must be an array of Tensors, got ${typeName(xs)}`);
  if (xs.length === 0) throw new RangeError(`${op}: argument '${arg}' must be a non-empty array of Tensors`);
  xs.forEach((t, i) => expectTensor(op, `${arg}[${i}]`, t));
  return xs as Tensor[];
}

const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * `cat(tensors, dim = 0)`: concatenation along an existing dim. dtypes promote like
 * torch (int32 with float32 gives float32); 1-D empty tensors are skipped (torch's legacy rule).
 * @example tj.cat([tj.ones([2, 3]), tj.zeros([1, 3])]).shape // [3, 3]
 *
 * attrs: [dim] (normalised). Inputs: the participating tensors, any dtypes.
 */
export const cat = defineOp({
  name: 'cat',
  kernels: ['cat'],
  kernel: (tensors: Tensor[], dim: number = 0): KernelCall => {
    const xs = expectTensorList('cat', 'tensors', tensors);
    const dtype = xs.map((t) => t.dtype).reduce(promoteTypes);
    xs.forEach((t, i) => {
      if (t.ndim === 0) throw new RangeError(`cat: zero-dimensional tensor (at position ${i}) cannot be concatenated`);
    });
    const isLegacyEmpty = (t: Tensor) => t.ndim === 1 && t.shape[0] === 0;
    const parts = xs.filter((t) => !isLegacyEmpty(t));
    if (parts.length === 0) return { kernel: 'cat', inputs: [], attrs: [0], outputs: [{ shape: [0], dtype }] };
    const ref = parts[0];
    const d = normalizeDim('cat', dim, ref.ndim);
    const shape = ref.shape.slice();
    shape[d] = 0;
    xs.forEach((t, i) => {
      if (isLegacyEmpty(t)) return;
      if (t.ndim !== ref.ndim)
        throw new RangeError(`cat: tensors must have the same number of dims: ${describeTensor(ref)} and tensor ${i} ${describeTensor(t)}`);
      for (let k = 0; k < ref.ndim; k++) {
        if (k !== d && t.shape[k] !== ref.shape[k])
          throw new RangeError(`cat: sizes of tensors must match except in dim ${d}: expected size ${ref.shape[k]} but got ${t.shape[k]} in dim ${k} for tensor ${i} (${describeTensor(t)})`);
      }
      shape[d] += t.shape[d];
    });
    return { kernel: 'cat', inputs: parts, attrs: [d], outputs: [{ shape, dtype }] };
  },
});

/**
 * `stack(tensors, dim = 0)`: joins equal-shaped tensors along a new dim.
 * @example tj.stack([tj.ones([3]), tj.zeros([3])], 1).shape // [3, 2]
 */
export const stack = defineOp({
  name: 'stack',
  decompose: (tensors: Tensor[], dim: number = 0): Tensor => {
    const xs = expectTensorList('stack', 'tensors', tensors);
    const ref = xs[0];
    xs.forEach((t, i) => {
      if (t.ndim !== ref.ndim || t.shape.some((s, k) => s !== ref.shape[k]))
        throw new RangeError(`stack: expects each tensor to be equal size, but got ${describeTensor(ref)} at entry 0 and ${describeTensor(t)} at entry ${i}`);
    });
    const d = normalizeDim('stack', dim, ref.ndim + 1);
    return cat(xs.map((t) => unsqueeze(t, d)), d);
  },
});

/**
 * `split(x, sizeOrSizes, dim = 0)` (torch.split): a number gives chunks of that size (the last
 * one smaller), an array gives the sizes (zeros allowed). Results are views of x.
 * @example tj.split(tj.arange(7), 3).map((t) => t.shape[0]) // [3, 3, 1]
 */
export const split = defineOp({
  name: 'split',
  method: true,
  returnsList: true,
  decompose: (x: Tensor, sizeOrSizes: number | number[], dim: number = 0): Tensor[] => {
    expectTensor('split', 'input', x);
    if (x.ndim === 0) throw new RangeError('split: expects at least a 1-dimensional tensor');
    const d = normalizeDim('split', dim, x.ndim);
    const n = x.shape[d];
    let sizes: number[];
    if (typeof sizeOrSizes === 'number') {
      const size = expectInt('split', 'splitSize', sizeOrSizes, 0);
      if (size === 0 && n !== 0)
        throw new RangeError(`split: splitSize can only be 0 if dim ${d} has size 0, but it has size ${n} (${describeTensor(x)})`);
      const chunks = size === 0 ? 1 : Math.max(1, Math.ceil(n / size));
      sizes = Array.from({ length: chunks }, (_, i) => Math.min(size, n - i * size));
    } else if (Array.isArray(sizeOrSizes)) {
      sizes = sizeOrSizes.map((s) => expectInt('split', 'splitSizes', s, 0));
      const total = sizes.reduce((a, b) => a + b, 0);
      if (total !== n)
        throw new RangeError(`split: splitSizes ${shapeStr(sizes)} must sum exactly to ${n} (the size of dim ${d} of ${describeTensor(x)}), got ${total}`);
    } else {
      throw new TypeError(`split: argument 'splitSize' must be an integer or an array of integers, got ${typeName(sizeOrSizes)}`);
    }
    let start = 0;
    return sizes.map((s) => {
      const part = narrow(x, d, start, s);
      start += s;
      return part;
    });
  },
});

/** torch treats 0-d like 1-d in gather's rank rule. */
const nonemptyDims = (t: Tensor) => Math.max(t.ndim, 1);

/**
 * `gather(x, dim, index)` (torch.gather): out[i][j] = x[index[i][j]][j] for dim 0, and so on.
 * index is int64 (int32 accepted) with x's rank; index.size(d) <= x.size(d) for d != dim.
 * @example tj.gather(tj.tensor([[1, 2], [3, 4]]), 1, tj.tensor([[0n, 0n], [1n, 0n]])) // [[1, 1], [4, 3]]
 *
 * attrs: [dim] (normalised). Out-of-range indices are a RangeError from the kernel.
 */
export const gather = defineOp({
  name: 'gather',
  method: true,
  kernels: ['gather'],
  kernel: (x: Tensor, dim: number, index: Tensor): KernelCall => {
    expectTensor('gather', 'input', x);
    expectTensor('gather', 'index', index);
    expectDType('gather', 'index', index, INDEX_DTYPES);
    const d = normalizeDim('gather', dim, x.ndim);
    if (nonemptyDims(x) !== nonemptyDims(index))
      throw new RangeError(`gather: index ${describeTensor(index)} must have the same number of dims as input ${describeTensor(x)}`);
    for (let k = 0; k < index.ndim && x.ndim > 0; k++) {
      if (k !== d && index.shape[k] > x.shape[k])
        throw new RangeError(`gather: index ${describeTensor(index)} is larger than input ${describeTensor(x)} in dim ${k} (only dim ${d} may be larger)`);
    }
    return { kernel: 'gather', inputs: [x, index], attrs: [d], outputs: [{ shape: index.shape.slice(), dtype: x.dtype }] };
  },
});

/**
 * `indexSelect(x, dim, index)` (torch.index_select): the slices of x at `index` along dim.
 * index is 1-D (or 0-d), int64 or int32; repeats and empty indices are fine.
 * @example tj.indexSelect(tj.tensor([[1, 2], [3, 4]]), 0, tj.tensor([1n, 1n])) // [[3, 4], [3, 4]]
 *
 * Kernel "index_select", attrs: [dim] (normalised).
 */
export const indexSelect = defineOp({
  name: 'indexSelect',
  method: true,
  kernels: ['index_select'],
  kernel: (x: Tensor, dim: number, index: Tensor): KernelCall => {
    expectTensor('indexSelect', 'input', x);
    expectTensor('indexSelect', 'index', index);
    expectDType('indexSelect', 'index', index, INDEX_DTYPES);
    if (index.ndim > 1) throw new RangeError(`indexSelect: argument 'index' must be 1-D or 0-d, got ${describeTensor(index)}`);
    const d = normalizeDim('indexSelect', dim, x.ndim);
    const n = shapeNumel(index.shape);
    let shape: number[];
    if (x.ndim === 0) {
      if (n !== 1) throw new RangeError(`indexSelect: an index into a 0-d input must hold one value, got ${describeTensor(index)}`);
      shape = [];
    } else {
      shape = x.shape.slice();
      shape[d] = n;
    }
    return { kernel: 'index_select', inputs: [x, index], attrs: [d], outputs: [{ shape, dtype: x.dtype }] };
  },
});

/**
 * `embedding(indices, weight)` (F.embedding order): rows of the 2-D weight picked by integer
 * indices of any rank; the result has shape [...indices.shape, weight.shape[1]].
 * @example tj.embedding(tj.tensor([[0n, 2n]]), tj.randn([4, 8])).shape // [1, 2, 8]
 *
 * Kernel "index_select" on weight with dim 0 (it takes an index of any rank).
 */
export const embedding = defineOp({
  name: 'embedding',
  kernels: ['index_select'],
  kernel: (indices: Tensor, weight: Tensor): KernelCall => {
    expectTensor('embedding', 'indices', indices);
    expectTensor('embedding', 'weight', weight);
    expectDType('embedding', 'indices', indices, INDEX_DTYPES);
    if (weight.ndim !== 2) throw new RangeError(`embedding: argument 'weight' must be 2-D, got ${describeTensor(weight)}`);
    return {
      kernel: 'index_select',
      inputs: [weight, indices],
      attrs: [0],
      outputs: [{ shape: [...indices.shape, weight.shape[1]], dtype: weight.dtype }],
    };
  },
});

/**
 * `copy_(dst, src)`: writes src (broadcast to dst's shape, converted to dst's dtype) into dst
 * and returns dst. Overlapping src and dst are handled (src is read before dst is written).
 * @example const cache = tj.zeros([2, 3]); cache.copy_(tj.ones([3]));
 *
 * Kernel inputs [dst, src]; attrs: none.
 */
export const copy_ = defineOp({
  name: 'copy_',
  method: true,
  traits: ['inplace'],
  kernels: ['copy_'],
  kernel: (dst: Tensor, src: Tensor): KernelCall => {
    expectTensor('copy_', 'self', dst);
    expectTensor('copy_', 'src', src);
    const b = src.ndim <= dst.ndim ? broadcastShapes('copy_', dst.shape, src.shape) : null;
    if (!b || b.length !== dst.ndim || b.some((s, i) => s !== dst.shape[i]))
      throw new RangeError(`copy_: src ${describeTensor(src)} is not broadcastable to self ${describeTensor(dst)}`);
    return { kernel: 'copy_', inputs: [dst, src], attrs: [], outputs: [{ shape: dst.shape.slice(), dtype: dst.dtype }], inplace: 0 };
  },
});

/**
 * `indexCopy_(x, dim, index, source)`: x's slices at `index` along dim are replaced by
 * source's (KV-cache updates). source has x's dtype and x's shape with dim of index's length.
 * @example cache.indexCopy_(2, tj.tensor([t], { dtype: 'int64' }), kv) // cache: [B, H, T, D]
 *
 * Kernel inputs [x, index, source]; attrs: [dim] (normalised).
 */
export const indexCopy_ = defineOp({
  name: 'indexCopy_',
  method: true,
  traits: ['inplace'],
  kernels: ['index_copy_'],
  kernel: (x: Tensor, dim: number, index: Tensor, source: Tensor): KernelCall => {
    expectTensor('indexCopy_', 'self', x);
    expectTensor('indexCopy_', 'index', index);
    expectTensor('indexCopy_', 'source', source);
    expectDType('indexCopy_', 'index', index, INDEX_DTYPES);
    if (index.ndim > 1) throw new RangeError(`indexCopy_: argument 'index' must be 1-D or 0-d, got ${describeTensor(index)}`);
    if (source.dtype !== x.dtype)
      throw new TypeError(`indexCopy_: source ${describeTensor(source)} must have the dtype of self ${describeTensor(x)}`);
    const d = normalizeDim('indexCopy_', dim, x.ndim);
    const want = x.ndim === 0 ? [shapeNumel(index.shape)] : x.shape.map((s, k) => (k === d ? shapeNumel(index.shape) : s));
    const got = source.ndim === 0 ? [1] : source.shape;
    if (got.length !== want.length || got.some((s, k) => s !== want[k]))
      throw new RangeError(`indexCopy_: source ${describeTensor(source)} must have shape ${shapeStr(want)} (self ${describeTensor(x)} with dim ${d} of ${shapeNumel(index.shape)}, the number of indices)`);
    return { kernel: 'index_copy_', inputs: [x, index, source], attrs: [d], outputs: [{ shape: x.shape.slice(), dtype: x.dtype }], inplace: 0 };
  },
});
