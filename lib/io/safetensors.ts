/**
 * Reading and writing safetensors files (Hugging Face's weight format).
 * Loading validates the whole header before touching data (see format.ts) and wraps
 * the file's bytes without copying wherever a tensor's offset is aligned to its dtype.
 */
import * as fs from 'node:fs';
import { DType, itemSize } from '../dtype';
import { Tensor, describeTensor } from '../tensor';
import { fromBuffer } from '../ops/creation';
import {
  DTYPE_TAGS, EntryInfo, HeaderInfo, SafetensorsError, defineEntry, parseHeader, readHeaderLength,
} from './format';

export { SafetensorsError, MAX_HEADER_BYTES } from './format';

export interface LoadedSafetensors {
  /** tensors by name, in header order */
  tensors: Record<string, Tensor>;
  /** the `__metadata__` strings ({} when absent) */
  metadata: Record<string, string>;
}

/** A state-dict-like collection of named tensors, written in its iteration order. */
export type NamedTensors = Record<string, Tensor> | Map<string, Tensor>;

// ---- reading

/**
 * Loads a safetensors file (path) or its bytes. A file is read straight into each
 * tensor's own memory. With a Uint8Array source the tensors alias the caller's bytes
 * (zero-copy) where their offsets are aligned to their dtype (always for files this
 * library writes), else they are copied.
 * @example const { tensors, metadata } = tj.io.loadSafetensors('model.safetensors');
 */
export function loadSafetensors(source: string | Uint8Array): LoadedSafetensors {
  if (typeof source === 'string') return loadFromFile(source);
  if (!(source instanceof Uint8Array))
    throw new TypeError(`loadSafetensors: argument 'source' must be a path or a Uint8Array, got ${typeof source}`);
  const headerLength = readHeaderLength(source, source.length);
  const dataStart = 8 + headerLength;
  const info = parseHeader(source.subarray(8, dataStart), source.length - dataStart);
  return build(info, source, dataStart);
}

/** Async form of loadSafetensors (reads the file without blocking the event loop). */
export async function loadSafetensorsAsync(source: string | Uint8Array): Promise<LoadedSafetensors> {
  if (typeof source !== 'string') return loadSafetensors(source);
  const handle = await fs.promises.open(source, 'r');
  try {
    const size = (await handle.stat()).size;
    const prefix = new Uint8Array(8);
    await readFullyAsync(handle, prefix, 0, size);
    const headerLength = readHeaderLength(prefix, size);
    const header = new Uint8Array(headerLength);
    await readFullyAsync(handle, header, 8, size);
    const info = parseHeader(header, size - 8 - headerLength);
    const tensors: Record<string, Tensor> = {};
    for (const e of info.entries) {
      const t = Tensor.empty(e.shape, e.dtype);
      await readFullyAsync(handle, storageBytes(t, e), 8 + headerLength + e.begin, size);
      defineEntry(tensors, e.name, checked(e, t));
    }
    return { tensors, metadata: info.metadata };
  } finally {
    await handle.close();
  }
}

/**
 * A file is read straight into one native allocation per tensor (nothing is copied after
 * the read): aligned memory each tensor owns, which the native executor takes as a constant.
 */
function loadFromFile(path: string): LoadedSafetensors {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    readFully(fd, prefix, 0, size);
    const headerLength = readHeaderLength(prefix, size);
    // the header is validated against the file size before any tensor memory is allocated
    const header = new Uint8Array(headerLength);
    readFully(fd, header, 8, size);
    const info = parseHeader(header, size - 8 - headerLength);
    const tensors: Record<string, Tensor> = {};
    for (const e of info.entries) {
      const t = Tensor.empty(e.shape, e.dtype);
      readFully(fd, storageBytes(t, e), 8 + headerLength + e.begin, size);
      defineEntry(tensors, e.name, checked(e, t));
    }
    return { tensors, metadata: info.metadata };
  } finally {
    fs.closeSync(fd);
  }
}

function storageBytes(t: Tensor, e: EntryInfo): Uint8Array {
  return new Uint8Array(t.storage!.buffer, 0, e.end - e.begin);
}

function checked(e: EntryInfo, t: Tensor): Tensor {
  if (e.dtype === 'bool') checkBoolBytes(e, storageBytes(t, e));
  return t;
}

function readFully(fd: number, into: Uint8Array, position: number, size: number): void {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw truncatedWhileReading(position + done, size);
    done += n;
  }
}

async function readFullyAsync(handle: fs.promises.FileHandle, into: Uint8Array, position: number, size: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw truncatedWhileReading(position + done, size);
    done += bytesRead;
  }
}

function truncatedWhileReading(at: number, size: number): SafetensorsError {
  if (size < 8) return new SafetensorsError(`truncated file: ${size} bytes is shorter than the 8-byte header length field`);
  return new SafetensorsError(`truncated file: reading stopped at byte ${at} (the file shrank while it was read?)`);
}

/** Makes the tensors of a validated header; `bytes[dataStart]` is the first data byte. */
function build(info: HeaderInfo, bytes: Uint8Array, dataStart: number): LoadedSafetensors {
  const tensors: Record<string, Tensor> = {};
  for (const e of info.entries) defineEntry(tensors, e.name, tensorOf(e, bytes, dataStart));
  return { tensors, metadata: info.metadata };
}

function tensorOf(e: EntryInfo, bytes: Uint8Array, dataStart: number): Tensor {
  const length = e.end - e.begin;
  const absolute = bytes.byteOffset + dataStart + e.begin;
  if (e.dtype === 'bool') checkBoolBytes(e, bytes.subarray(dataStart + e.begin, dataStart + e.end));
  if (absolute % itemSize[e.dtype] === 0 && bytes.buffer instanceof ArrayBuffer)
    return fromBuffer(new Uint8Array(bytes.buffer, absolute, length), e.shape, e.dtype);
  const t = Tensor.empty(e.shape, e.dtype);
  new Uint8Array(t.storage!.buffer, 0, length).set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
  return t;
}

// bool kernels assume 0/1 bytes; anything else would read as a silently wrong value
function checkBoolBytes(e: EntryInfo, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++)
    if (data[i] > 1) throw new SafetensorsError(`tensor '${e.name}' (BOOL) holds the byte ${data[i]} at element ${i}; only 0 and 1 are valid`);
}

// ---- writing

interface Planned {
  name: string;
  tensor: Tensor;
  begin: number;
  end: number;
}

interface Layout {
  /** length prefix + padded JSON header */
  head: Uint8Array;
  /** in data order */
  items: Planned[];
  dataLength: number;
}

function entriesOf(tensors: NamedTensors): [string, Tensor][] {
  if (tensors instanceof Map) return [...tensors.entries()];
  if (typeof tensors !== 'object' || tensors === null)
    throw new TypeError(`saveSafetensors: argument 'tensors' must be an object of Tensors, got ${tensors === null ? 'null' : typeof tensors}`);
  return Object.keys(tensors).map((k) => [k, tensors[k]]);
}

function plan(tensors: NamedTensors, metadata: Record<string, string> | undefined): Layout {
  const named = entriesOf(tensors);
  for (const [name, t] of named) {
    if (name === '__metadata__') throw new RangeError("saveSafetensors: '__metadata__' is reserved and cannot name a tensor");
    if (!(t instanceof Tensor)) throw new TypeError(`saveSafetensors: '${name}' must be a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (t.isFake) throw new TypeError(`saveSafetensors: '${name}' (${describeTensor(t)}) is a fake tensor without data`);
    if (t.disposed) throw new Error(`saveSafetensors: '${name}' (${describeTensor(t)}) was disposed`);
  }
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object') throw new TypeError('saveSafetensors: metadata must be an object of strings');
    for (const k of Object.keys(metadata))
      if (typeof metadata[k] !== 'string')
        throw new TypeError(`saveSafetensors: metadata value of '${k}' must be a string, got ${typeof metadata[k]}`);
  }
  // Data goes widest dtype first so every offset stays aligned (zero-copy loads);
  // the header keeps the caller's order.
  const order = named.map((nt, i) => ({ nt, i })).sort((a, b) => itemSize[b.nt[1].dtype] - itemSize[a.nt[1].dtype] || a.i - b.i);
  const byName = new Map<string, Planned>();
  const items: Planned[] = [];
  let cursor = 0;
  for (const { nt: [name, tensor] } of order) {
    const bytes = tensor.numel() * itemSize[tensor.dtype];
    const p = { name, tensor, begin: cursor, end: cursor + bytes };
    cursor += bytes;
    items.push(p);
    byName.set(name, p);
  }
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  for (const [name, t] of named) {
    const p = byName.get(name)!;
    defineEntry(header, name, { dtype: DTYPE_TAGS[t.dtype as DType], shape: t.shape.slice(), data_offsets: [p.begin, p.end] });
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // data section starts 8-byte aligned
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, items, dataLength: cursor };
}

/** The tensor's row-major bytes: a view of its storage when contiguous, else a copy. */
function bytesOf(t: Tensor): Uint8Array {
  const n = t.numel() * itemSize[t.dtype];
  if (t.isContiguous()) return new Uint8Array(t.storage!.buffer, t.offset * itemSize[t.dtype], n);
  const copy = t.dataSync();
  return new Uint8Array(copy.buffer, copy.byteOffset, n);
}

/**
 * The safetensors bytes of named tensors (header in their order) with optional string metadata.
 * @example const bytes = tj.io.serializeSafetensors({ w: tj.ones([2]) }, { note: 'hi' });
 */
export function serializeSafetensors(tensors: NamedTensors, metadata?: Record<string, string>): Uint8Array {
  const layout = plan(tensors, metadata);
  const out = new Uint8Array(layout.head.length + layout.dataLength);
  out.set(layout.head, 0);
  for (const p of layout.items) out.set(bytesOf(p.tensor), layout.head.length + p.begin);
  return out;
}

/**
 * Writes named tensors to one safetensors file at exactly `path`.
 * @example tj.io.saveSafetensors('model.safetensors', model.stateDict(), { format: 'pt' });
 */
export function saveSafetensors(path: string, tensors: NamedTensors, metadata?: Record<string, string>): void {
  const layout = plan(tensors, metadata);
  const fd = fs.openSync(path, 'w');
  try {
    writeAll(fd, layout.head);
    for (const p of layout.items) writeAll(fd, bytesOf(p.tensor));
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(path, { force: true });
    throw e;
  }
  fs.closeSync(fd);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** Async form of saveSafetensors. */
export async function saveSafetensorsAsync(path: string, tensors: NamedTensors, metadata?: Record<string, string>): Promise<void> {
  const layout = plan(tensors, metadata);
  const handle = await fs.promises.open(path, 'w');
  try {
    await writeAllAsync(handle, layout.head);
    // copies now so later in-place updates to the tensors cannot tear the file
    for (const p of layout.items) await writeAllAsync(handle, bytesOf(p.tensor).slice());
  } catch (e) {
    await handle.close();
    await fs.promises.rm(path, { force: true });
    throw e;
  }
  await handle.close();
}

async function writeAllAsync(handle: fs.promises.FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
}
