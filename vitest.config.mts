// The test groups: one vitest project each, listed file by file in test/groups.json. Every test
// file is in exactly one group (test/groups.test.ts fails otherwise). `vitest run` (npm test) runs
// all three; `vitest run --project <group>` one (npm run test:unit, test:integration, test:kvm).
//
//   unit         in-process and fast: no child processes, no receivers, no KVM
//   integration  real receivers (Prometheus, VictoriaMetrics), child processes, the CLI, the built
//                package, the crash, load, fuzz-open and reliability suites
//   kvm          the demo VMM and its KVM layer: /dev/kvm, the Linux loaders, the legacy devices
//
// Integration and kvm tests load the compiled package (dist/): their projects' globalSetup checks
// once, before any test, that it is compiled and current (test/support/built.ts); it never
// compiles (npm test runs tsc before vitest).
import { defineConfig } from 'vitest/config';
import groups from './test/groups.json' with { type: 'json' };

const NEEDS_DIST = new Set(['integration', 'kvm']);

export default defineConfig({
  test: {
    projects: Object.entries(groups as Record<string, string[]>).map(([name, files]) => ({
      extends: true,
      test: {
        name,
        include: files.map((file) => `test/${file}`),
        globalSetup: NEEDS_DIST.has(name) ? ['test/support/built.ts'] : [],
      },
    })),
  },
});
