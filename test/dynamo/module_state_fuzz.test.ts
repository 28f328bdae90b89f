/**
 * Random changes to a compiled module's attributes between calls (numbers, strings, arrays,
 * plain configs, a settings object of its own class, a Set of flags, a Map of settings, a
 * list of submodules, a submodule kept in a plain object, an optional submodule, attributes
 * added and deleted): every call equals the same module run eagerly. Seeded;
 * TJ_MODULE_FUZZ=count.
 */
import { expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { expectClose, makeTensor, randomValues, rng, toRef } from '../helpers/reference';

const COUNT = Number(process.env.TJ_MODULE_FUZZ ?? 40);

class Settings {
  shift = 0;
  inner = { gain: 1 };
}

class Subject extends tj.nn.Module {
  settings = new Settings();
  flags = new Set<string>();
  table = new Map<string, number>([['w', 1]]);
  heads: Record<string, tj.nn.Linear> = { h: new tj.nn.Linear(4, 4) };
  scale = 1.5;
  mode = 'a';
  offsets = [0.5, -1];
  cfg: Record<string, unknown> = { k: 2, on: true };
  blocks = new tj.nn.ModuleList([new tj.nn.Linear(4, 4), new tj.nn.Linear(4, 4)]);
  extra: tj.nn.Module | null = null;
  override forward(x: tj.Tensor): tj.Tensor {
    let y = tj.mul(x, this.scale);
    for (const b of this.blocks) y = b.forward(y);
    for (const o of this.offsets) y = tj.add(y, o);
    if (this.mode === 'b') y = tj.relu(y);
    if (this.cfg.on) y = tj.mul(y, this.cfg.k as number);
    if ('bonus' in this) y = tj.add(y, (this as unknown as { bonus: number }).bonus);
    y = tj.add(tj.mul(y, this.settings.inner.gain * this.table.get('w')!), this.settings.shift);
    if (this.flags.has('head')) y = this.heads.h.forward(y);
    return this.extra ? this.extra.forward(y) : y;
  }
}

test(`${COUNT} random sequences of attribute changes: compiled equals eager`, () => {
  for (let seed = 0; seed < COUNT; seed++) {
    const rand = rng(seed + 1);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    tj.manualSeed(seed);
    const m = new Subject().eval();
    const compiled = tj.compile(m, { backend: 'native' });
    const x = makeTensor(randomValues(8, seed), [2, 4]);
    const actions: [string, () => void][] = [
      ['scale', () => (m.scale = pick([1.5, 2, -1]))],
      ['mode', () => (m.mode = pick(['a', 'b']))],
      ['offsets push', () => m.offsets.push(pick([1, -0.25]))],
      ['offsets pop', () => void m.offsets.pop()],
      ['offsets[0]', () => m.offsets.length && (m.offsets[0] = pick([0.5, 3]))],
      ['cfg.k', () => (m.cfg.k = pick([2, 3]))],
      ['cfg.on', () => (m.cfg.on = !m.cfg.on)],
      ['cfg new key', () => (m.cfg[pick(['p', 'q'])] = 1)],
      ['block swapped', () => (m.blocks[Math.floor(rand() * 2)] = new tj.nn.Linear(4, 4))],
      ['extra', () => (m.extra = m.extra ? null : new tj.nn.Linear(4, 4))],
      ['bonus added or deleted', () => ('bonus' in m ? delete (m as unknown as { bonus?: number }).bonus : Object.assign(m, { bonus: 0.75 }))],
      ['weight in place', () => m.blocks[0].weight.mul_(0.5)],
      ['settings.shift', () => (m.settings.shift = pick([0, 0.5, -2]))],
      ['settings.inner.gain', () => (m.settings.inner.gain = pick([1, 2]))],
      ['settings replaced', () => (m.settings = new Settings())],
      ['flag toggled', () => (m.flags.has('head') ? m.flags.delete('head') : m.flags.add('head'))],
      ['table value', () => m.table.set('w', pick([1, -1, 0.5]))],
      ['head weight replaced', () => (m.heads.h.weight = makeTensor(randomValues(16, Math.floor(rand() * 1000)), [4, 4]))],
      ['head replaced', () => (m.heads.h = new tj.nn.Linear(4, 4))],
    ];
    const done: string[] = [];
    for (let step = 0; step < 12; step++) {
      if (rand() < 0.7) {
        const [what, act] = pick(actions);
        act();
        done.push(what);
      }
      expectClose(compiled.forward(x) as tj.Tensor, toRef(m.forward(x)), undefined, `seed ${seed} after ${done.join(', ')}`);
    }
  }
}, 300_000);
