/**
 * The safetensors layout, validated before any byte of data is used:
 *   [u64 little-endian N][N bytes of UTF-8 JSON header][data section]
 * header = { name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string} },
 * offsets relative to the data section, entries contiguous, covering it exactly.
 */
import { DType } from '../dtype';

/** Raised for malformed, truncated or hostile safetensors input. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** Headers above this are refused before reading them (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

export const FILE_DTYPES: Record<string, DType> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', I32: 'int32', I64: 'int64', BOOL: 'bool',
};
export const DTYPE_TAGS: Record<DType, string> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', int32: 'I32', int64: 'I64', bool: 'BOOL',
};
const ITEM_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, BOOL: 1 };

export interface EntryInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** byte range inside the data section */
  begin: number;
  end: number;
}

export interface HeaderInfo {
  /** in header order */
  entries: EntryInfo[];
  metadata: Record<string, string>;
}

/** Reads N from the first 8 bytes and checks it against the limit and the input length. */
export function readHeaderLength(prefix: Uint8Array, totalLength: number): number {
  if (totalLength < 8 || prefix.length < 8)
    throw new SafetensorsError(`truncated file: ${totalLength} bytes is shorter than the 8-byte header length field`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw new SafetensorsError(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLength = Number(n);
  if (headerLength < 2) throw new SafetensorsError(`header length ${headerLength} is too small for a JSON object`);
  if (8 + headerLength > totalLength)
    throw new SafetensorsError(
      `truncated file: the header needs ${headerLength} bytes after the length field but only ${totalLength - 8} follow`);
  return headerLength;
}

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

function isIndex(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Parses and validates the JSON header against a data section of `dataLength` bytes.
 * Checks: UTF-8, a JSON object, each entry's fields and dtype, shape entries, byte
 * length = numel * itemsize (BigInt, so huge shapes cannot overflow), offsets in range,
 * entries contiguous without overlap or gaps, and the data section covered exactly.
 */
export function parseHeader(headerBytes: Uint8Array, dataLength: number): HeaderInfo {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError('header must be a JSON object starting with "{"');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) throw new SafetensorsError('header must be a JSON object');

  const metadata: Record<string, string> = {};
  const entries: EntryInfo[] = [];
  for (const name of Object.keys(json)) {
    const value = json[name];
    if (name === '__metadata__') {
      if (value === null) continue;
      if (!isPlainObject(value)) throw new SafetensorsError('__metadata__ must be an object of strings');
      for (const key of Object.keys(value)) {
        if (typeof value[key] !== 'string')
          throw new SafetensorsError(`__metadata__ value of '${key}' must be a string, got ${jsonType(value[key])}`);
        defineEntry(metadata, key, value[key] as string);
      }
      continue;
    }
    entries.push(parseEntry(name, value, dataLength));
  }
  checkLayout(entries, dataLength);
  return { entries, metadata };
}

function jsonType(x: unknown): string {
  return x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x;
}

function parseEntry(name: string, value: unknown, dataLength: number): EntryInfo {
  if (!isPlainObject(value)) throw new SafetensorsError(`tensor '${name}': entry must be an object, got ${jsonType(value)}`);
  const tag = value.dtype;
  if (typeof tag !== 'string') throw new SafetensorsError(`tensor '${name}': dtype must be a string, got ${jsonType(tag)}`);
  if (!Object.hasOwn(FILE_DTYPES, tag))
    throw new SafetensorsError(
      `tensor '${name}' has dtype ${tag}, which tensorjit cannot read (supported: ${Object.keys(FILE_DTYPES).join(', ')})`);
  const dtype = FILE_DTYPES[tag];
  const shape = value.shape;
  if (!Array.isArray(shape)) throw new SafetensorsError(`tensor '${name}': shape must be an array, got ${jsonType(shape)}`);
  for (const d of shape)
    if (!isIndex(d))
      throw new SafetensorsError(`tensor '${name}': shape ${JSON.stringify(shape)} has an entry that is not a non-negative integer`);
  const offsets = value.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isIndex(offsets[0]) || !isIndex(offsets[1]))
    throw new SafetensorsError(`tensor '${name}': data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`);
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw new SafetensorsError(`tensor '${name}': data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength)
    throw new SafetensorsError(
      `tensor '${name}': data_offsets [${begin}, ${end}] are out of range of the ${dataLength}-byte data section (truncated file?)`);
  let bytes = BigInt(ITEM_BYTES[tag]);
  for (const d of shape as number[]) bytes *= BigInt(d);
  if (bytes !== BigInt(end - begin))
    throw new SafetensorsError(
      `tensor '${name}': shape ${JSON.stringify(shape)} of ${tag} needs ${bytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  return { name, dtype, shape: (shape as number[]).slice(), begin, end };
}

function checkLayout(entries: readonly EntryInfo[], dataLength: number): void {
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: EntryInfo | null = null;
  for (const e of sorted) {
    if (e.begin < cursor)
      throw new SafetensorsError(`tensor '${e.name}' [${e.begin}, ${e.end}] overlaps tensor '${previous!.name}' [${previous!.begin}, ${previous!.end}]`);
    if (e.begin > cursor)
      throw new SafetensorsError(`tensor '${e.name}' starts at byte ${e.begin} but the previous tensor ends at ${cursor}: the data section has a gap`);
    cursor = e.end;
    previous = e;
  }
  if (cursor !== dataLength)
    throw new SafetensorsError(
      `the tensors cover ${cursor} bytes of the ${dataLength}-byte data section: ${dataLength - cursor} unexplained trailing bytes (wrong file length)`);
}

/** Sets obj[key] as an own data property even for names like "__proto__". */
export function defineEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export function itemBytes(tag: string): number {
  return ITEM_BYTES[tag];
}
