/** Export: whole-program capture (exportProgram), ExportedProgram, loadProgram. */
export { ExportedProgram } from './exported_program';
export type { ProgramBackend } from './exported_program';
export { loadProgram } from './load';
export { exportProgram } from './export_program';
export type { ExportOptions, DynamicShapes, DimSpec } from './export_program';
export type { LoadProgramOptions } from './load';
export { PROGRAM_FORMAT, PROGRAM_METADATA_KEY, encodeProgram, decodeProgram } from './serialize';
export type { ProgramSignature, InputLeaf, DynamicDim } from './serialize';
export { ProgramFormatError } from './values';
