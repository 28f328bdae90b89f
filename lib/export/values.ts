/**
 * JSON encoding of the values a program holds in node arguments and pytree specs.
 * JSON has no NaN/Infinity/undefined/bigint and cannot tell a node reference from an
 * object, so everything that is not a string, finite number, boolean, null or array
 * is tagged: {"$node": name}, {"$num": "NaN"}, {"$undef": 1}, {"$big": "12"},
 * {"$obj": {...}}, {"$dtype"...} is not needed (dtypes are plain strings).
 */

export class ProgramFormatError extends Error {
  constructor(message: string) {
    super(`loadProgram: ${message}`);
    this.name = 'ProgramFormatError';
  }
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Encodes a value; `leaf` handles objects the caller knows (graph nodes, tensors) and
 * returns undefined for the rest.
 */
export function encodeValue(x: unknown, leaf: (x: object) => Json | undefined, where: string): Json {
  if (x === null || typeof x === 'boolean' || typeof x === 'string') return x;
  if (x === undefined) return { $undef: 1 };
  if (typeof x === 'number') return Number.isFinite(x) ? (Object.is(x, -0) ? { $num: '-0' } : x) : { $num: String(x) };
  if (typeof x === 'bigint') return { $big: x.toString() };
  if (typeof x === 'object') {
    const known = leaf(x);
    if (known !== undefined) return known;
    if (Array.isArray(x)) return x.map((v, i) => encodeValue(v, leaf, `${where}[${i}]`));
    if (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null) {
      const out: { [k: string]: Json } = {};
      for (const k of Object.keys(x)) out[k] = encodeValue((x as Record<string, unknown>)[k], leaf, `${where}.${k}`);
      return { $obj: out };
    }
  }
  const kind = typeof x === 'function' ? `function ${(x as { name?: string }).name || '(anonymous)'}` : typeof x === 'object' ? `object ${(x as object).constructor?.name ?? ''}` : typeof x;
  throw new TypeError(`exportProgram: cannot serialise ${kind} at ${where} (programs hold tensors, numbers, strings, booleans, null, arrays and plain objects)`);
}

/** Inverse of encodeValue; `leaf` resolves the caller's tags ($node, ...) or returns undefined. */
export function decodeValue(j: unknown, leaf: (tagged: Record<string, unknown>) => unknown | undefined, where: string): unknown {
  if (j === null || typeof j === 'boolean' || typeof j === 'string' || typeof j === 'number') return j;
  if (Array.isArray(j)) return j.map((v, i) => decodeValue(v, leaf, `${where}[${i}]`));
  if (typeof j === 'object') {
    const o = j as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const k = keys[0];
      if (k === '$undef') return undefined;
      if (k === '$num') {
        const s = o.$num;
        if (s === 'NaN') return NaN;
        if (s === 'Infinity') return Infinity;
        if (s === '-Infinity') return -Infinity;
        if (s === '-0') return -0;
        throw new ProgramFormatError(`bad number ${JSON.stringify(s)} at ${where}`);
      }
      if (k === '$big') {
        if (typeof o.$big !== 'string' || !/^-?\d+$/.test(o.$big)) throw new ProgramFormatError(`bad bigint at ${where}`);
        return BigInt(o.$big);
      }
      if (k === '$obj') {
        const body = o.$obj;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ProgramFormatError(`bad object at ${where}`);
        const out: Record<string, unknown> = {};
        for (const [kk, v] of Object.entries(body as Record<string, unknown>))
          Object.defineProperty(out, kk, { value: decodeValue(v, leaf, `${where}.${kk}`), enumerable: true, writable: true, configurable: true });
        return out;
      }
    }
    const known = leaf(o);
    if (known !== undefined) return known;
    throw new ProgramFormatError(`unknown value ${JSON.stringify(j).slice(0, 80)} at ${where}`);
  }
  throw new ProgramFormatError(`unexpected ${typeof j} at ${where}`);
}
