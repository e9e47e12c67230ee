// The image tests (`npm run test:image`): they build the image and run it with podman, so they are
// kept out of `npm test` and run by .ci/run after it, one file at a time (each starts several
// containers on a 2-core machine).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../../', import.meta.url)),
    include: ['test/image/**/*.test.ts'],
    globalSetup: ['test/image/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
