/**
 * Benchmark suites of `networking-spp bench [suite]`. Each prints its figures (or one JSON
 * object with --json) and the command line that reproduces them.
 */
export interface BenchSuite {
  description: string;
  run(options: Record<string, string | boolean | undefined>): Promise<void>;
}

export const benchSuites: Record<string, () => Promise<BenchSuite>> = {
  bind: async () => (await import('./bind.js')).bindSuite,
  emulator: async () => (await import('./emulator.js')).emulatorBench,
  agent: async () => (await import('./agent.js')).agentBench,
  neutron: async () => (await import('./neutron.js')).neutronBench,
  migration: async () => (await import('./migration.js')).migrationBench,
  chaos: async () => (await import('./chaos.js')).chaosSuite,
};
