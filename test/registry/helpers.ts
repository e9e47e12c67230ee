// Shared by the registry tests: a fresh registry folder per test and a manifest for publishing bytes.
// The registry does not interpret artifacts, so these tests publish small byte strings; the trainer
// tests publish real models.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PublishInput } from '../../src/registry/index.js';

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `flywheel-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function publishInput(n: number, overrides: Partial<PublishInput['manifest']> = {}): PublishInput {
  return {
    artifact: new TextEncoder().encode(JSON.stringify({ model: n, pad: 'x'.repeat(64) })),
    manifest: {
      trainer_host: 'test-host',
      package_version: '0.0.0-test',
      algorithm: 'random-forest',
      data: { source: 'synthetic', rows: 100 + n, sha256: 'a'.repeat(64) },
      parameters: { trees: n },
      metrics: { r2: 0.5 + n / 100, mae: 1, rmse: 1.5 },
      fit_seconds: 0.01,
      features: [{ name: 'x', type: 'number', min: 0, max: 1 }],
      target: 'y',
      ...overrides,
    },
  };
}
