// Writes dist/esm/index.mjs: an ES module facade over the CommonJS build, so `import`
// and `require` share one instance (one op registry, one set of compiler caches).
'use strict';
const fs = require('fs');
const path = require('path');
const dist = path.join(__dirname, '..', 'dist');
const names = Object.keys(require(path.join(dist, 'cjs', 'index.js'))).filter((n) => n !== 'default');
fs.mkdirSync(path.join(dist, 'esm'), { recursive: true });
const lines = ["import m from '../cjs/index.js';", ...names.map((n) => `export const ${n} = m.${n};`), 'export default m;', ''];
fs.writeFileSync(path.join(dist, 'esm', 'index.mjs'), lines.join('\n'));
fs.writeFileSync(path.join(dist, 'esm', 'index.d.mts'), "export * from '../cjs/index.js';\nimport * as m from '../cjs/index.js';\nexport default m;\n");
