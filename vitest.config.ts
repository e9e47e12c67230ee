import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Built and run with podman by `npm run test:image` (.ci/run runs it after npm test).
    exclude: ['test/image/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real processes and servers; two cores are shared between files.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
