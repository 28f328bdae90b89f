/**
 * Parameter names of a JS function, read from its source, so graph inputs and guard
 * messages use the user's names (`x`, `mask`). Destructured parameters get `argN`.
 */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0, quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  const last = s.slice(start);
  if (last.trim()) out.push(last);
  return out;
}

function paramSource(src: string): string | null {
  const s = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '').trim();
  const arrowSingle = /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(s);
  if (arrowSingle) return arrowSingle[1];
  const open = s.indexOf('(');
  if (open < 0) return null;
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return s.slice(open + 1, i);
  }
  return null;
}

/** Names of fn's parameters; rest parameters are reported as `...name`. */
export function parameterNames(fn: Function): string[] {
  let src: string;
  try {
    src = Function.prototype.toString.call(fn);
  } catch {
    return [];
  }
  if (/^class\b/.test(src)) return [];
  const params = paramSource(src);
  if (params === null) return [];
  return splitTopLevel(params).map((p, i) => {
    const t = p.trim().replace(/=[\s\S]*$/, '').trim();
    if (/^\.\.\.[A-Za-z_$][\w$]*$/.test(t)) return t;
    return /^[A-Za-z_$][\w$]*$/.test(t) ? t : `arg${i}`;
  });
}

/** The name of each positional argument (rest parameters become `name_0`, `name_1`, ...). */
export function argumentNames(fn: Function, count: number): string[] {
  const names = parameterNames(fn);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = names[Math.min(i, names.length - 1)];
    if (p === undefined) out.push(`arg${i}`);
    else if (p.startsWith('...')) out.push(`${p.slice(3)}_${i - names.length + 1}`);
    else if (i < names.length) out.push(p);
    else out.push(`arg${i}`);
  }
  return out;
}

/**
 * Whether fn reads its own `this` (a `function` or a method), as opposed to an arrow function,
 * whose `this` is fixed where it was written (so the object a call is made on means nothing).
 */
export function hasOwnThis(fn: Function): boolean {
  let src: string;
  try {
    src = Function.prototype.toString.call(fn);
  } catch {
    return true;
  }
  const s = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '').trim();
  return !/^(?:async\s*)?(?:\(|[A-Za-z_$][\w$]*\s*=>)/.test(s);
}
