/** Test helper: runs a saved program in a new node process (see fixtures/run_program.ts). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tj from '../../lib/index';

const fixture = path.join(__dirname, 'fixtures', 'run_program.ts');
const root = path.resolve(__dirname, '..', '..');

export function runInFreshProcess(programPath: string, args: tj.Tensor[], backend: 'native' | 'eager' = 'native'): { outputs: tj.Tensor[]; structure: unknown } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tj-fresh-'));
  try {
    const inputs = path.join(dir, 'inputs.safetensors'), outputs = path.join(dir, 'outputs.safetensors');
    const named: Record<string, tj.Tensor> = {};
    args.forEach((t, i) => (named[`arg${String(i).padStart(3, '0')}`] = t));
    tj.io.saveSafetensors(inputs, named);
    try {
      execFileSync(process.execPath, ['--import', 'tsx', fixture, programPath, inputs, outputs, backend], {
        cwd: root, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000,
      });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string; signal?: string | null; status?: number | null };
      const how = err.signal ? `killed by ${err.signal}` : `exit status ${err.status}`;
      const wrote = fs.existsSync(outputs) ? ' after writing its outputs (a crash at exit)' : '';
      throw new Error(`the fresh process failed (${how}${wrote}): ${err.message}\n${err.stderr?.toString() ?? ''}`);
    }
    const { tensors, metadata } = tj.io.loadSafetensors(outputs);
    const outs = Object.keys(tensors).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3))).map((k) => tensors[k]);
    return { outputs: outs, structure: JSON.parse(metadata.structure) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
