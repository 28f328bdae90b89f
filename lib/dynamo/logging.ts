/**
 * TENSORJIT_LOGS=graph_breaks,recompiles,guards,graph_code,perf (or `all`): like TORCH_LOGS.
 * The variable is read at every log call, so tests and long-running services can change it.
 */
export type LogChannel = 'graph_breaks' | 'recompiles' | 'guards' | 'graph_code' | 'perf';

let parsedFrom: string | undefined;
let enabled = new Set<string>();

export function logEnabled(channel: LogChannel): boolean {
  const raw = process.env.TENSORJIT_LOGS;
  if (raw !== parsedFrom) {
    parsedFrom = raw;
    enabled = new Set((raw ?? '').split(',').map((s) => s.trim().replace(/^\+/, '')).filter(Boolean));
  }
  return enabled.has(channel) || enabled.has('all');
}

/** Writes `[tensorjit:<channel>] message` to stderr when the channel is on; `message` may be lazy. */
export function log(channel: LogChannel, message: string | (() => string)): void {
  if (!logEnabled(channel)) return;
  const text = typeof message === 'string' ? message : message();
  process.stderr.write(`[tensorjit:${channel}] ${text.split('\n').join(`\n[tensorjit:${channel}] `)}\n`);
}
