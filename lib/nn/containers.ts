/** Module containers: items are own properties '0', '1', ... (or given names) so state dict names match torch. */
import { Module } from './module';

function expectModule(where: string, m: unknown, index: number | string): Module {
  if (!(m instanceof Module)) throw new TypeError(`${where}: item ${index} must be a Module, got ${m === null ? 'null' : typeof m}`);
  return m;
}

abstract class IndexedModules extends Module {
  /** Items in order (integer-like names sort first and ascending, as JS orders own keys). */
  protected items(): Module[] {
    const self = this as unknown as Record<string, unknown>;
    // not namedChildren(): the same module may sit at two positions (torch runs it twice)
    return Object.keys(this).map((k) => self[k]).filter((v): v is Module => v instanceof Module);
  }
  get length(): number {
    return this.items().length;
  }
  /** Item i (negative counts from the end). */
  get(index: number): Module {
    const items = this.items();
    const i = index < 0 ? index + items.length : index;
    if (!Number.isInteger(i) || i < 0 || i >= items.length)
      throw new RangeError(`${this.constructor.name}: index ${index} is out of range for ${items.length} modules`);
    return items[i];
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.items()[Symbol.iterator]();
  }
}

/**
 * Runs its modules in order, feeding each one's output to the next.
 * @example const mlp = new tj.nn.Sequential(new tj.nn.Linear(4, 8), new tj.nn.ReLU(), new tj.nn.Linear(8, 2));
 *   // state dict: '0.weight', '0.bias', '2.weight', '2.bias'
 */
export class Sequential extends IndexedModules {
  /** `new Sequential(a, b, c)` names them '0', '1', '2'; `new Sequential({ fc: a, act: b })` keeps the names. */
  constructor(...modules: Module[] | [Record<string, Module>]) {
    super();
    const self = this as unknown as Record<string, unknown>;
    const first = modules[0] as unknown;
    if (modules.length === 1 && !(first instanceof Module) && typeof first === 'object' && first !== null) {
      for (const [name, m] of Object.entries(first as Record<string, Module>)) {
        if (name === '' || name.includes('.')) throw new TypeError(`Sequential: module name ${JSON.stringify(name)} must be non-empty without '.'`);
        self[name] = expectModule('Sequential', m, name);
      }
    } else {
      (modules as Module[]).forEach((m, i) => (self[String(i)] = expectModule('Sequential', m, i)));
    }
  }
  override forward(input: any): any {
    let x = input;
    for (const m of this.items()) x = m.forward(x);
    return x;
  }
  /** Adds a module at the end. */
  append(m: Module): this {
    (this as unknown as Record<string, unknown>)[String(this.length)] = expectModule('Sequential.append', m, this.length);
    return this;
  }
}

/**
 * A list of submodules (not callable itself), named '0', '1', ... under its property.
 * @example this.layers = new tj.nn.ModuleList([new Block(), new Block()]); // 'layers.0.attn...'
 */
export class ModuleList extends IndexedModules {
  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.append(m);
  }
  append(m: Module): this {
    const n = this.length;
    (this as unknown as Record<string, unknown>)[String(n)] = expectModule('ModuleList', m, n);
    return this;
  }
  extend(modules: Iterable<Module>): this {
    for (const m of modules) this.append(m);
    return this;
  }
  override forward(): never {
    throw new Error('ModuleList: a ModuleList is not callable; iterate over it and call its modules');
  }
}
