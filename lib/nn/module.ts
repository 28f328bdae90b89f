/**
 * Module: the base of every layer, with PyTorch's naming of parameters, buffers and
 * submodules. Members are found by walking own properties in insertion order:
 * Tensor values are parameters (unless registered as buffers), Module values are
 * submodules, and arrays of Modules are lists of submodules named `prop.i`.
 */
import { Tensor, copyInto, describeTensor } from '../tensor';
import { getOp, AnyOp } from '../ops/registry';

/** Per-module buffer names and whether each is persistent (saved in stateDict). */
const bufferInfo = new WeakMap<Module, Map<string, boolean>>();

export interface CompiledModuleLike {
  forward: (...args: any[]) => any;
  runAsync?: (...args: any[]) => Promise<any>;
}

/**
 * Set by the compiler (lib/dynamo) when it loads: nn does not import the compiler, so
 * the two can load in either order. `compile(module, opts)` must trace the forward
 * that the module has at compile time.
 */
export const moduleHooks: { compile: ((module: Module, opts?: unknown) => CompiledModuleLike) | null } = { compile: null };

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

const join = (prefix: string, name: string) => (prefix ? `${prefix}.${name}` : name);

export class Module {
  /** Training mode (Dropout and friends read it); set recursively by train()/eval(). */
  training = true;

  /**
   * The computation. Subclasses override it; callers use `m.forward(...)`.
   * @example class Double extends tj.nn.Module { forward(x: tj.Tensor) { return tj.mul(x, 2); } }
   */
  forward(..._args: any[]): any {
    throw new Error(`${this.constructor.name}: forward() is not implemented`);
  }

  /**
   * Adds a buffer: state that is not a parameter (non-persistent buffers are left out of stateDict).
   * @example this.registerBuffer('positions', tj.arange(16));
   */
  registerBuffer(name: string, tensor: Tensor | null, persistent: boolean | { persistent?: boolean } = true): void {
    if (typeof name !== 'string' || name === '' || name.includes('.'))
      throw new TypeError(`registerBuffer: buffer name must be a non-empty string without '.', got ${JSON.stringify(name)}`);
    if (tensor !== null && !(tensor instanceof Tensor))
      throw new TypeError(`registerBuffer: buffer '${name}' must be a Tensor or null`);
    const keep = typeof persistent === 'boolean' ? persistent : persistent.persistent ?? true;
    let info = bufferInfo.get(this);
    if (!info) bufferInfo.set(this, (info = new Map()));
    info.set(name, keep);
    (this as Record<string, unknown>)[name] = tensor;
  }

  /** Sets a parameter (a Tensor own property; null leaves the slot empty, as a disabled bias). */
  registerParameter(name: string, tensor: Tensor | null): void {
    if (typeof name !== 'string' || name === '' || name.includes('.'))
      throw new TypeError(`registerParameter: parameter name must be a non-empty string without '.', got ${JSON.stringify(name)}`);
    if (tensor !== null && !(tensor instanceof Tensor))
      throw new TypeError(`registerParameter: parameter '${name}' must be a Tensor or null`);
    bufferInfo.get(this)?.delete(name);
    (this as Record<string, unknown>)[name] = tensor;
  }

  // ---- own members, in registration (property) order

  private ownMembers(): { params: [string, Tensor][]; buffers: [string, Tensor, boolean][]; children: [string, Module][] } {
    const info = bufferInfo.get(this);
    const params: [string, Tensor][] = [], buffers: [string, Tensor, boolean][] = [], children: [string, Module][] = [];
    const self = this as Record<string, unknown>;
    for (const key of Object.keys(this)) {
      const v = self[key];
      if (info?.has(key)) {
        if (v instanceof Tensor) buffers.push([key, v, info.get(key)!]);
      } else if (v instanceof Tensor) {
        params.push([key, v]);
      } else if (v instanceof Module) {
        children.push([key, v]);
      } else if (Array.isArray(v)) {
        v.forEach((item, i) => {
          if (item instanceof Module) children.push([`${key}.${i}`, item]);
        });
      }
    }
    return { params, buffers, children };
  }

  /** Direct submodules with their names (array members are named `prop.i`). */
  namedChildren(): [string, Module][] {
    const seen = new Set<Module>();
    const out: [string, Module][] = [];
    for (const [name, m] of this.ownMembers().children) {
      if (seen.has(m)) continue;
      seen.add(m);
      out.push([name, m]);
    }
    return out;
  }
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every submodule, pre-order, each once; the root's name is ''. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (m: Module, name: string) => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [childName, child] of m.ownMembers().children) visit(child, join(name, childName));
    };
    visit(this, prefix);
    return out;
  }
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /**
   * Parameters with dotted names (`layers.0.weight`), each tensor once.
   * @example for (const [name, p] of model.namedParameters()) console.log(name, p.shape);
   */
  namedParameters(prefix = '', recurse = true): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const mods: [string, Module][] = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [modName, m] of mods)
      for (const [n, t] of m.ownMembers().params) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([join(modName, n), t]);
      }
    return out;
  }
  parameters(recurse = true): Tensor[] {
    return this.namedParameters('', recurse).map(([, t]) => t);
  }

  /** Buffers with dotted names (persistent or not), each tensor once. */
  namedBuffers(prefix = '', recurse = true): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const mods: [string, Module][] = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [modName, m] of mods)
      for (const [n, t] of m.ownMembers().buffers) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([join(modName, n), t]);
      }
    return out;
  }
  buffers(recurse = true): Tensor[] {
    return this.namedBuffers('', recurse).map(([, t]) => t);
  }

  /**
   * `{[dottedName]: Tensor}` of parameters and persistent buffers, in PyTorch's order
   * (each module's parameters, then its buffers, then its submodules). The values are
   * the live tensors, not copies.
   * @example tj.io.saveSafetensors('model.safetensors', model.stateDict());
   */
  stateDict(prefix = ''): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    const path = new Set<Module>(); // guards against reference cycles only: shared modules repeat, as in torch
    const visit = (m: Module, name: string) => {
      if (path.has(m)) return;
      path.add(m);
      const { params, buffers, children } = m.ownMembers();
      for (const [n, t] of params) setEntry(out, join(name, n), t);
      for (const [n, t, persistent] of buffers) if (persistent) setEntry(out, join(name, n), t);
      for (const [n, child] of children) visit(child, join(name, n));
      path.delete(m);
    };
    visit(this, prefix);
    return out;
  }

  /**
   * Copies a state dict's values into this module's existing tensors in place (compiled
   * graphs that captured the tensors see the new values). Everything is checked before
   * anything is copied: unknown or missing keys (when strict), shapes, value types.
   * @example model.loadStateDict(tj.io.loadSafetensors('model.safetensors').tensors);
   */
  loadStateDict(stateDict: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const where = this.constructor.name;
    if (typeof stateDict !== 'object' || stateDict === null || stateDict instanceof Tensor)
      throw new TypeError(`loadStateDict: expected a state dict object {[name]: Tensor} for ${where}, got ${stateDict === null ? 'null' : typeof stateDict}`);
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !Object.hasOwn(stateDict, k));
    const unexpectedKeys = Object.keys(stateDict).filter((k) => !Object.hasOwn(own, k));
    const problems: string[] = [];
    if (strict && missingKeys.length) problems.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}.`);
    if (strict && unexpectedKeys.length) problems.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}.`);
    const pairs: [string, Tensor, Tensor][] = [];
    for (const k of Object.keys(own)) {
      if (!Object.hasOwn(stateDict, k)) continue;
      const src = stateDict[k], dst = own[k];
      if (!(src instanceof Tensor)) {
        problems.push(`value for "${k}" is not a Tensor (got ${src === null ? 'null' : typeof src}).`);
        continue;
      }
      if (src.isFake || src.disposed) {
        problems.push(`value for "${k}" (${describeTensor(src)}) has no data (fake or disposed).`);
        continue;
      }
      if (src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i])) {
        problems.push(`size mismatch for ${k}: copying a param with shape [${src.shape.join(', ')}] from checkpoint, ` +
          `the shape in current model is [${dst.shape.join(', ')}].`);
        continue;
      }
      pairs.push([k, dst, src]);
    }
    if (problems.length) throw new Error(`Error(s) in loading state_dict for ${where}:\n\t${problems.join('\n\t')}`);
    for (const [k, dst, src] of pairs) copyValue(k, dst, src);
    return { missingKeys, unexpectedKeys };
  }

  /** Sets `training` on this module and every submodule; returns this. */
  train(mode = true): this {
    if (typeof mode !== 'boolean') throw new TypeError(`train: argument 'mode' must be a boolean, got ${typeof mode}`);
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  /** train(false). */
  eval(): this {
    return this.train(false);
  }

  /** Calls fn on every submodule (children first) and then this module, like torch's apply. */
  apply(fn: (m: Module) => void): this {
    for (const child of this.children()) child.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Compiles this module's forward in place (tj.compile(module, opts)) and returns the module.
   * @example const model = new Net().eval().compile({ backend: 'eager' });
   */
  compile(opts?: unknown): this {
    const compile = moduleHooks.compile;
    if (!compile)
      throw new Error(`${this.constructor.name}.compile: the compiler is not available (lib/dynamo is not loaded; import tensorjit's root module)`);
    const compiled = compile(this, opts);
    // own, non-enumerable: not a member, and the class's forward stays reachable through the prototype
    Object.defineProperty(this, 'forward', { value: compiled.forward, writable: true, configurable: true, enumerable: false });
    if (compiled.runAsync)
      Object.defineProperty(this, 'runAsync', { value: compiled.runAsync, writable: true, configurable: true, enumerable: false });
    return this;
  }

  /** e.g. `Linear(inFeatures=4, outFeatures=2, bias=true)` with submodules indented below. */
  toString(): string {
    const extra = this.extraRepr();
    const kids = this.namedChildren();
    if (!kids.length) return `${this.constructor.name}(${extra})`;
    const lines = kids.map(([n, m]) => `  (${n}): ${String(m).split('\n').join('\n  ')}`);
    return `${this.constructor.name}(${extra ? `\n  ${extra}` : ''}\n${lines.join('\n')}\n)`;
  }
  /** The layer's settings for toString (subclasses override). */
  extraRepr(): string {
    return '';
  }
}

function setEntry(out: Record<string, Tensor>, key: string, t: Tensor): void {
  Object.defineProperty(out, key, { value: t, enumerable: true, writable: true, configurable: true });
}

/** dst <- src in place, converting dtype like torch's copy_. */
function copyValue(key: string, dst: Tensor, src: Tensor): void {
  if (dst === src) return;
  const copyOp = getOp('copy_') as AnyOp | undefined;
  if (copyOp) {
    copyOp(dst, src);
    return;
  }
  if (src.dtype !== dst.dtype) {
    const to = getOp('to');
    if (!to) throw new TypeError(`loadStateDict: "${key}" is ${src.dtype} but the model holds ${dst.dtype}, and no dtype conversion op is available`);
    src = to(src, dst.dtype) as Tensor;
  }
  copyInto(dst, src);
}
