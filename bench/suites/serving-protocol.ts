/** What the serving suite's coordinator and its worker processes share. */
import * as models from './models';

/** The workloads a serving process can build, by key (the same seeded weights in every process). */
export const servingWorkloads: Record<string, () => models.Workload> = {
  mlp1: () => models.mlpWorkload(1),
  encoder1: () => models.encoderWorkload(1, 1),
};

export type Engine = 'eager' | 'compiled' | 'runAsync' | 'ort';
export interface PhaseRequest {
  engine: Engine;
  durationMs: number;
}
export interface PhaseReport {
  calls: number;
  wallMs: number;
  medianMs: number;
}
