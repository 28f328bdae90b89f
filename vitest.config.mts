import { defineConfig } from 'vitest/config';

// Kernel tests run once per ISA table: the addon reads TENSORJIT_ISA once per process,
// and each test file runs in its own forked process. The default project runs the best
// table (avx512 or neon); these run the lower ones this architecture has.
const lowerTables = process.arch === 'arm64' ? ['scalar'] : ['avx2', 'scalar'];
const isaProjects = lowerTables.map((isa) => ({
  extends: true as const,
  test: { name: `isa-${isa}`, include: ['test/ops/**/*.test.ts', 'test/backends/native/**/*.test.ts'], env: { TENSORJIT_ISA: isa } },
}));

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    execArgv: ['--expose-gc'],
    projects: [{ extends: true, test: { name: 'default', include: ['test/**/*.test.ts'] } }, ...isaProjects],
  },
});
