/** `tj.io`: reading and writing weights (safetensors). */
export {
  loadSafetensors, loadSafetensorsAsync, saveSafetensors, saveSafetensorsAsync, serializeSafetensors,
  SafetensorsError, MAX_HEADER_BYTES,
} from './safetensors';
export type { LoadedSafetensors, NamedTensors } from './safetensors';
