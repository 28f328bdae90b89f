/** The user's source position of a graph break: the first stack frame outside tensorjit's own code. */
import * as path from 'node:path';

// lib/ when running from source, dist/ when running the built package
const ownDirs = [path.resolve(__dirname, '..'), path.resolve(__dirname, '..', '..', 'dist')].map((d) => d + path.sep);

function isOwnFrame(file: string): boolean {
  const f = file.startsWith('file://') ? decodeURIComponent(file.slice('file://'.length)) : file;
  return ownDirs.some((d) => f.startsWith(d)) || f.startsWith('node:') || f.startsWith('internal/');
}

/** `file:line:col` of the innermost user frame ('<unknown>' when none is visible). */
export function userLocation(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 80;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (!m) continue;
    if (isOwnFrame(m[1])) continue;
    return `${m[1]}:${m[2]}:${m[3]}`;
  }
  return '<unknown>';
}
