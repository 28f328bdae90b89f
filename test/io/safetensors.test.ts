import { afterAll, describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tj from '../../lib/index';

const { loadSafetensors, loadSafetensorsAsync, saveSafetensors, saveSafetensorsAsync, serializeSafetensors, SafetensorsError } = tj.io;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tj-safetensors-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Builds a file by hand (independent of the writer): length prefix, header text, data bytes. */
function craft(header: unknown, data: Uint8Array | number = 0, opts: { lengthField?: bigint } = {}): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, opts.lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

function expectLoadError(bytes: Uint8Array, message: RegExp): void {
  let err: unknown;
  try {
    loadSafetensors(bytes);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  expect((err as Error).message).toMatch(/^safetensors: /);
  expect((err as Error).message).toMatch(message);
}

function sampleTensors(): Record<string, tj.Tensor> {
  return {
    'bert.embeddings.word_embeddings.weight': tj.tensor([[1.5, -2, 3.25], [0, -0, 1e-30]]),
    'bert.encoder.layer.0.attention.self.query.weight': tj.tensor([[1, 2], [3, 4], [5, 6]]).transpose(0, 1),
    half: tj.tensor([1, -2.5, 65504, 0.0001], { dtype: 'float16' }),
    brain: tj.tensor([1, -2.5, 3e38, 1e-3], { dtype: 'bfloat16' }),
    ints: tj.tensor(new Int32Array([-2147483648, 0, 7, 2147483647]), { shape: [2, 2] }),
    longs: tj.tensor(new BigInt64Array([-(2n ** 62n), 5n, 2n ** 62n]), { shape: [3] }),
    mask: tj.tensor([[true, false, true]]),
    scalar: tj.tensor(3.5, { shape: [] }),
    empty: tj.zeros([0, 4]),
    'empty.int': tj.tensor(new Int32Array(0), { shape: [2, 0] }),
  };
}

function expectSameTensors(got: Record<string, tj.Tensor>, want: Record<string, tj.Tensor>): void {
  expect(Object.keys(got)).toEqual(Object.keys(want));
  for (const k of Object.keys(want)) {
    expect(got[k].dtype, k).toBe(want[k].dtype);
    expect(got[k].shape, k).toEqual(want[k].shape);
    expect(got[k].dataSync(), k).toEqual(want[k].dataSync());
  }
}

describe('round trip', () => {
  test('every dtype, 0-d, empty and strided tensors through bytes keep names, order, values and metadata', () => {
    const want = sampleTensors();
    const bytes = serializeSafetensors(want, { format: 'pt', note: 'é ✓' });
    const { tensors, metadata } = loadSafetensors(bytes);
    expectSameTensors(tensors, want);
    expect(metadata).toEqual({ format: 'pt', note: 'é ✓' });
    expect((tensors.half.toArray() as number[]).slice(0, 3)).toEqual([1, -2.5, 65504]);
    expect(tensors.half.toArray()[3]).toBeCloseTo(0.0001, 7);
    expect(tensors.brain.toArray()[1]).toBe(-2.5);
    expect(tensors['bert.encoder.layer.0.attention.self.query.weight'].toArray()).toEqual([[1, 3, 5], [2, 4, 6]]);
    expect(tensors.longs.dataSync()).toEqual(new BigInt64Array([-(2n ** 62n), 5n, 2n ** 62n]));
    expect(tensors.mask.toArray()).toEqual([[true, false, true]]);
    expect(tensors.scalar.item()).toBe(3.5);
  });

  test('files: sync and async writers and readers agree, the file is exactly at path', async () => {
    const want = sampleTensors();
    const a = path.join(dir, 'a.safetensors');
    const b = path.join(dir, 'b.bin');
    saveSafetensors(a, want, { k: 'v' });
    await saveSafetensorsAsync(b, want, { k: 'v' });
    expect(fs.readFileSync(a)).toEqual(fs.readFileSync(b));
    expect(fs.existsSync(b)).toBe(true);
    expectSameTensors(loadSafetensors(a).tensors, want);
    const loaded = await loadSafetensorsAsync(b);
    expectSameTensors(loaded.tensors, want);
    expect(loaded.metadata).toEqual({ k: 'v' });
  });

  test('the header is 8-byte padded JSON, data is aligned, the layout matches the spec', () => {
    const bytes = serializeSafetensors({ b: tj.tensor([true, false, true]), w: tj.tensor([1, 2]), l: tj.tensor(new BigInt64Array([9n])) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(Object.keys(header)).toEqual(['b', 'w', 'l']);
    expect(header.w).toEqual({ dtype: 'F32', shape: [2], data_offsets: [8, 16] });
    expect(header.l).toEqual({ dtype: 'I64', shape: [1], data_offsets: [0, 8] });
    expect(header.b).toEqual({ dtype: 'BOOL', shape: [3], data_offsets: [16, 19] });
    expect(bytes.length).toBe(8 + n + 19);
    expect(header.__metadata__).toBeUndefined();
  });

  test('bytes load zero-copy when aligned, a misaligned source is copied, a file gets one allocation per tensor', () => {
    const file = path.join(dir, 'zc.safetensors');
    saveSafetensors(file, { x: tj.tensor([1, 2, 3]), y: tj.tensor(new Int32Array([4, 5])), b: tj.tensor([true]) });
    const bytes = new Uint8Array(fs.readFileSync(file));
    const shared = loadSafetensors(bytes).tensors;
    expect(shared.x.storage!.buffer).toBe(bytes.buffer);
    expect(shared.y.storage!.buffer).toBe(bytes.buffer);
    // the alias is live: writing the source bytes changes the tensor
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const begin = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))).x.data_offsets[0];
    new DataView(bytes.buffer).setFloat32(8 + n + begin, 42, true);
    expect(shared.x.toArray()).toEqual([42, 2, 3]);
    new DataView(bytes.buffer).setFloat32(8 + n + begin, 1, true);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const copy = loadSafetensors(shifted.subarray(1)).tensors;
    expect(copy.x.toArray()).toEqual([1, 2, 3]);
    expect(copy.y.toArray()).toEqual([4, 5]);
    expect(copy.b.toArray()).toEqual([true]);
    expect(copy.x.storage!.buffer).not.toBe(shifted.buffer);
    const fromFile = loadSafetensors(file).tensors;
    expect(fromFile.x.storage!.buffer).not.toBe(fromFile.y.storage!.buffer);
    expect(fromFile.x.toArray()).toEqual([1, 2, 3]);
    expect(fromFile.b.toArray()).toEqual([true]);
  });

  test('a Hugging Face style file (sorted header, format metadata, trailing spaces) loads', () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 0.5, -0.5]).buffer);
    const header = JSON.stringify({
      __metadata__: { format: 'pt' },
      'bert.encoder.layer.0.attention.self.query.bias': { dtype: 'F32', shape: [2], data_offsets: [16, 24] },
      'bert.encoder.layer.0.attention.self.query.weight': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    }) + '    ';
    const { tensors, metadata } = loadSafetensors(craft(header, data));
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors)).toEqual([
      'bert.encoder.layer.0.attention.self.query.bias', 'bert.encoder.layer.0.attention.self.query.weight']);
    expect(tensors['bert.encoder.layer.0.attention.self.query.weight'].toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tensors['bert.encoder.layer.0.attention.self.query.bias'].toArray()).toEqual([0.5, -0.5]);
  });

  test('a tensor named __proto__ stays an own entry and does not touch the prototype', () => {
    const { tensors } = loadSafetensors(craft('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4));
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(tensors, '__proto__')!.value).toBeInstanceOf(tj.Tensor);
  });

  test('metadata null and an empty file with only a header are valid', () => {
    expect(loadSafetensors(craft({ __metadata__: null })).tensors).toEqual({});
    expect(loadSafetensors(craft({})).metadata).toEqual({});
  });
});

describe('corrupted and hostile files', () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  test('shorter than the length field', () => {
    expectLoadError(new Uint8Array(5), /truncated file: 5 bytes is shorter than the 8-byte header length/);
    expectLoadError(new Uint8Array(0), /truncated file: 0 bytes/);
  });

  test('header length above the limit (checked before any allocation)', () => {
    expectLoadError(craft(ok, 8, { lengthField: 2n ** 63n }), /header length 9223372036854775808 exceeds the 100000000-byte limit/);
    expectLoadError(craft(ok, 8, { lengthField: 100_000_001n }), /exceeds the 100000000-byte limit/);
  });

  test('header length beyond the end of the file', () => {
    expectLoadError(craft(ok, 0, { lengthField: 5000n }), /truncated file: the header needs 5000 bytes .* only \d+ follow/);
  });

  test('header not UTF-8, not JSON, not an object', () => {
    const bad = craft('{"w":1}');
    bad[10] = 0xff;
    expectLoadError(bad, /header is not valid UTF-8/);
    expectLoadError(craft('{"w": {'), /header is not valid JSON/);
    expectLoadError(craft('[1, 2]'), /header must be a JSON object starting with/);
    expectLoadError(craft('{}garbage'), /header is not valid JSON/);
  });

  test('entries that are not objects or lack fields', () => {
    expectLoadError(craft({ w: 3 }), /tensor 'w': entry must be an object, got number/);
    expectLoadError(craft({ w: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor 'w': dtype must be a string/);
    expectLoadError(craft({ w: { dtype: 'F32', data_offsets: [0, 4] } }, 4), /tensor 'w': shape must be an array/);
    expectLoadError(craft({ w: { dtype: 'F32', shape: [1] } }, 4), /tensor 'w': data_offsets must be two non-negative integers/);
  });

  test('unsupported dtypes name the tensor and the dtype', () => {
    expectLoadError(craft({ 'h.0.w': { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, 8),
      /tensor 'h.0.w' has dtype F64, which tensorjit cannot read \(supported: F32, F16, BF16, I32, I64, BOOL\)/);
    expectLoadError(craft({ q: { dtype: 'I8', shape: [1], data_offsets: [0, 1] } }, 1), /tensor 'q' has dtype I8/);
    expectLoadError(craft({ q: { dtype: 'toString', shape: [1], data_offsets: [0, 1] } }, 1), /tensor 'q' has dtype toString/);
  });

  test('bad shape entries', () => {
    for (const shape of [[-1], [1.5], ['2'], [null], [2 ** 53]])
      expectLoadError(craft({ w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, 4),
        /tensor 'w': shape .* has an entry that is not a non-negative integer/);
  });

  test('bad data_offsets', () => {
    expectLoadError(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /data_offsets must be two non-negative integers, got \[0\]/);
    expectLoadError(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0, -4] } }, 4), /data_offsets must be two non-negative integers/);
    expectLoadError(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 1e300] } }, 4), /data_offsets must be two non-negative integers/);
    expectLoadError(craft({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, 4), /data_offsets \[4, 0\] end before they begin/);
  });

  test('offsets out of range of the data section (truncated data)', () => {
    expectLoadError(craft(ok, 6), /tensor 'w': data_offsets \[0, 8\] are out of range of the 6-byte data section \(truncated file\?\)/);
  });

  test('byte length must equal numel * itemsize, with overflow-proof arithmetic', () => {
    expectLoadError(craft({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8),
      /tensor 'w': shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/);
    // 2^31 * 2^31 * 4 wraps to 0 in 64-bit arithmetic; it must not match an empty range
    expectLoadError(craft({ w: { dtype: 'F32', shape: [2 ** 31, 2 ** 31, 4], data_offsets: [0, 0] } }),
      /needs 73786976294838206464 bytes but data_offsets \[0, 0\] hold 0/);
  });

  test('overlapping entries', () => {
    expectLoadError(craft({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, 12), /tensor 'b' \[4, 12\] overlaps tensor 'a' \[0, 8\]/);
    expectLoadError(craft({
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    }, 4), /overlaps/);
  });

  test('gaps between entries and at the start', () => {
    expectLoadError(craft({
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    }, 12), /tensor 'b' starts at byte 8 but the previous tensor ends at 4: the data section has a gap/);
    expectLoadError(craft({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /tensor 'a' starts at byte 4 .* gap/);
  });

  test('trailing bytes after the last tensor (exact file length)', () => {
    expectLoadError(craft(ok, 9), /the tensors cover 8 bytes of the 9-byte data section: 1 unexplained trailing bytes/);
  });

  test('metadata must be an object of strings', () => {
    expectLoadError(craft({ __metadata__: { format: 1 } }), /__metadata__ value of 'format' must be a string, got number/);
    expectLoadError(craft({ __metadata__: ['x'] }), /__metadata__ must be an object of strings/);
  });

  test('bool tensors may only hold 0 and 1', () => {
    expectLoadError(craft({ m: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }, new Uint8Array([1, 0, 2])),
      /tensor 'm' \(BOOL\) holds the byte 2 at element 2/);
  });

  test('truncated files on disk, sync and async', async () => {
    const file = path.join(dir, 'cut.safetensors');
    const bytes = serializeSafetensors({ w: tj.tensor([1, 2, 3, 4]) });
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 3));
    expect(() => loadSafetensors(file)).toThrow(/data_offsets \[0, 16\] are out of range of the 13-byte data section/);
    await expect(loadSafetensorsAsync(file)).rejects.toThrow(SafetensorsError);
    fs.writeFileSync(file, bytes.subarray(0, 3));
    expect(() => loadSafetensors(file)).toThrow(/truncated file: 3 bytes/);
    await expect(loadSafetensorsAsync(file)).rejects.toThrow(/truncated file: 3 bytes/);
    fs.writeFileSync(file, bytes.subarray(0, 20));
    expect(() => loadSafetensors(file)).toThrow(/truncated file: the header needs/);
  });
});

describe('BAD CALL: writer', () => {
  test('rejects non-tensors, the reserved name and non-string metadata', () => {
    expect(() => serializeSafetensors({ w: 3 as unknown as tj.Tensor })).toThrow(TypeError);
    expect(() => serializeSafetensors({ w: 3 as unknown as tj.Tensor })).toThrow(/saveSafetensors: 'w' must be a Tensor/);
    expect(() => serializeSafetensors({ __metadata__: tj.ones([1]) })).toThrow(/'__metadata__' is reserved/);
    expect(() => serializeSafetensors({ w: tj.ones([1]) }, { v: 2 as unknown as string })).toThrow(/metadata value of 'v' must be a string/);
    expect(() => loadSafetensors(42 as unknown as string)).toThrow(TypeError);
  });

  test('a failed save leaves no partial file', () => {
    const file = path.join(dir, 'partial.safetensors');
    expect(() => saveSafetensors(file, { w: 'x' as unknown as tj.Tensor })).toThrow(TypeError);
    expect(fs.existsSync(file)).toBe(false);
  });
});
