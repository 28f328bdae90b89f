#!/usr/bin/env node
// Checks that ISA-specific machine code lives only in the functions of its ISA table, so the
// shipped binary runs on any x86-64 and AVX-512 code runs only when CPUID selected that table.
//   node scripts/check-isa-symbols.cjs [files...]   (default build/Release/tensorjit.node; needs objdump)
// Files must carry symbols: an unstripped .node, or the object files of a build (a stripped
// prebuild's code is the link of build/Release/obj.target/**/*.o, so check those).
// Disassembles every function, classifies its instructions as AVX-512 (zmm, mask registers,
// xmm/ymm16-31, EVEX-only mnemonics) or AVX/VEX (any VEX op: AVX, AVX2, FMA, F16C, BMI2) and
// groups functions by the ISA namespace in their own qualified name (tensorjit::avx512::...,
// lambdas inside such functions included). Fails if AVX-512 code is found outside an avx512
// namespace or VEX code outside avx2/avx512 namespaces.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');
const fs = require('fs');

const files = (process.argv.length > 2 ? process.argv.slice(2) : ['build/Release/tensorjit.node']).map((f) => path.resolve(f));
for (const file of files) {
  if (!fs.existsSync(file)) {
    console.error(`no such file: ${file}`);
    process.exit(2);
  }
}

const evexOnly =
  /^(k[a-z]+[bwdq]?|vpternlog|vperm[ti]2|vpermi2|v(p)?compress|v(p)?expand|v\w+(32|64)x\d|vmovdq[au](8|16|32|64)|vpsraq|vpro[lr]|valign[dq]|vrndscale|vrange|vreduce|vscalef|vgetexp|vgetmant|vfpclass|vfixupimm|vrcp14|vrsqrt14|vcvtt?p[sd]2u|vcvtu|vcvtt?p[sd]2qq|vcvtqq|vpmov[dqw][bwd]\b|vpmovs[dqw][bwd]|vpmovus|vpmovm2|vpmov[bwdq]2m|vpabsq|vp(max|min)[su]q|vpmullq|vpconflict|vplzcnt|vpbroadcastm|vptestn?m|vpcmpu?[bwdq]\b|vpsllv[w]|vpsrav[wq]|vpsrlv[w])/;
const avx512Operand = /%zmm|%k[0-7]\b|%[xy]mm(1[6-9]|2\d|3[01])\b/;
const vexBmi = /^(shlx|shrx|sarx|rorx|pdep|pext|bzhi|mulx|andn)\b/;

function classify(mnemonic, operands) {
  if (avx512Operand.test(operands) || evexOnly.test(mnemonic)) return 'avx512';
  if ((mnemonic.startsWith('v') && !/^ver[rw]/.test(mnemonic)) || vexBmi.test(mnemonic) || /%ymm/.test(operands)) return 'avx';
  return null;
}

function isaNamespace(demangled) {
  const name = demangled.replace(/\(anonymous namespace\)/g, 'anon');
  const cut = name.search(/[<(]/);
  const head = (cut < 0 ? name : name.slice(0, cut)).trim().split(/\s+/).pop();
  const m = /(?:^|::)(avx512|avx2|scalar|neon)::/.exec(head);
  return m ? m[1] : 'baseline';
}

const functions = new Map(); // name -> {ns, avx512, avx}
let current = null;
const lines = files.flatMap((file) =>
  execFileSync('objdump', ['-d', '-C', '-w', '--no-show-raw-insn', file], { encoding: 'utf8', maxBuffer: 1 << 30 }).split('\n'),
);
for (const line of lines) {
  const header = /^[0-9a-f]+ <(.*)>:$/.exec(line);
  if (header) {
    const name = header[1];
    current = functions.get(name) || { ns: isaNamespace(name), avx512: 0, avx: 0 };
    functions.set(name, current);
    continue;
  }
  const insn = /^\s+[0-9a-f]+:\s+([a-z][a-z0-9.]*)\s*(.*)$/.exec(line);
  if (!insn || !current) continue;
  let [, mnemonic, operands] = insn;
  if (/^(rep|repz|repnz|lock|notrack|bnd|data16|cs|ds)$/.test(mnemonic)) [mnemonic, operands = ''] = operands.split(/\s+(.*)/);
  const kind = classify(mnemonic, operands);
  if (kind) current[kind]++;
}

const groups = new Map();
const violations = [];
for (const [name, f] of functions) {
  const g = groups.get(f.ns) || { functions: 0, withAvx512: 0, withAvx: 0 };
  g.functions++;
  if (f.avx512) g.withAvx512++;
  if (f.avx) g.withAvx++;
  groups.set(f.ns, g);
  if (f.avx512 && f.ns !== 'avx512') violations.push(`AVX-512 in ${f.ns} function: ${name}`);
  else if (f.avx && f.ns !== 'avx2' && f.ns !== 'avx512') violations.push(`AVX/VEX in ${f.ns} function: ${name}`);
}

console.log(`${files.length === 1 ? files[0] : `${files.length} files`}: ${functions.size} functions`);
console.log('namespace  functions  with-AVX-512  with-AVX/VEX');
for (const [ns, g] of [...groups].sort()) {
  console.log(`${ns.padEnd(10)} ${String(g.functions).padStart(9)} ${String(g.withAvx512).padStart(13)} ${String(g.withAvx).padStart(13)}`);
}
if (functions.size < 50) console.log('warning: few symbols; is the binary stripped? check an unstripped build of the same objects');
if (violations.length) {
  console.log(`\n${violations.length} function(s) with ISA code outside their table:`);
  for (const v of violations) console.log(`  ${v}`);
  process.exit(1);
}
console.log('OK: AVX-512 code only in avx512:: functions, VEX code only in avx2::/avx512:: functions');
