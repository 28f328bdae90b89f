// Writes dist/esm/index.mjs: an ES module facade over the CommonJS build, so `import`
// and `require` share one instance (one op registry, one set of compiler caches).
// The export names come from the type checker over dist/cjs/index.d.ts (value exports
// only), not from loading dist/cjs/index.js: that would load the native addon, and the
// TypeScript build must work before the addon is built (npm pack, fresh clones).
'use strict';
const fs = require('fs');
const path = require('path');
const ts = require('typescript');

const dist = path.join(__dirname, '..', 'dist');
const entry = path.join(dist, 'cjs', 'index.d.ts');
const program = ts.createProgram([entry], { noEmit: true, skipLibCheck: true, types: [] });
const checker = program.getTypeChecker();
const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry));
const isValue = (sym) => {
  const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
  return (target.flags & ts.SymbolFlags.Value) !== 0;
};
const names = checker
  .getExportsOfModule(moduleSymbol)
  .filter(isValue)
  .map((s) => s.getName())
  .filter((n) => n !== 'default')
  .sort();
if (names.length === 0) throw new Error(`no value exports found in ${entry}`);

fs.mkdirSync(path.join(dist, 'esm'), { recursive: true });
const lines = ["import m from '../cjs/index.js';", ...names.map((n) => `export const ${n} = m.${n};`), 'export default m;', ''];
fs.writeFileSync(path.join(dist, 'esm', 'index.mjs'), lines.join('\n'));
fs.writeFileSync(path.join(dist, 'esm', 'index.d.mts'), "export * from '../cjs/index.js';\nimport * as m from '../cjs/index.js';\nexport default m;\n");
