/** Markdown tables on stdout and JSON files in bench/results/. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Row {
  [column: string]: string | number | null;
}

const fmt = (v: string | number | null) =>
  v === null ? 'n/a' : typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)) : v;

export function markdownTable(rows: Row[]): string {
  if (!rows.length) return '';
  const cols = Object.keys(rows[0]);
  const lines = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${cols.map((c) => fmt(r[c] ?? null)).join(' | ')} |`);
  return lines.join('\n');
}

export function machineDescription(): Record<string, unknown> {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? 'unknown', logicalCpus: cpus.length, memGB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}` };
}

export function writeJson(name: string, payload: unknown): string {
  const dir = path.join(__dirname, '..', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(payload, null, 2));
  return file;
}
