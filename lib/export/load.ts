/** loadProgram: an ExportedProgram back from its one safetensors file, without the code that made it. */
import { loadSafetensorsAsync } from '../io/safetensors';
import { ExportedProgram, ProgramBackend } from './exported_program';
import { PROGRAM_METADATA_KEY, decodeProgram } from './serialize';
import { ProgramFormatError } from './values';

export interface LoadProgramOptions {
  /** 'native' (default; the eager interpreter when the addon has no executor) or 'eager' */
  backend?: ProgramBackend;
}

/**
 * Loads a program saved by `ExportedProgram.save`: validates the safetensors file, then
 * rebuilds the graph from its JSON through the op registry (by op name).
 * @example const ep = await tj.loadProgram('model.tjp.safetensors'); const y = ep.run(x);
 */
export async function loadProgram(path: string | Uint8Array, opts: LoadProgramOptions = {}): Promise<ExportedProgram> {
  const backend = opts.backend ?? 'native';
  if (backend !== 'native' && backend !== 'eager') throw new TypeError(`loadProgram: unknown backend '${String(backend)}' (use 'native' or 'eager')`);
  const { tensors, metadata } = await loadSafetensorsAsync(path);
  const where = typeof path === 'string' ? `'${path}'` : 'the given bytes';
  const text = metadata[PROGRAM_METADATA_KEY];
  if (text === undefined)
    throw new ProgramFormatError(`${where} holds no program (its __metadata__ has no '${PROGRAM_METADATA_KEY}' entry); a plain weights file loads with tj.io.loadSafetensors`);
  let program: unknown;
  try {
    program = JSON.parse(text);
  } catch (e) {
    throw new ProgramFormatError(`the program JSON in ${where} is malformed (${(e as Error).message})`);
  }
  const { graphModule, signature, stateDict } = decodeProgram(program, tensors);
  return new ExportedProgram(graphModule, stateDict, signature, backend);
}
