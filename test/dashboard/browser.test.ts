// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
// `flywheel up` stack in a temp folder: the page loads cleanly, shows what the gateway and the registry
// say, its charts move while a client sends traffic, and the operator's routing change goes through
// the admin API only with the token. Screenshots go to test-output/dashboard/.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/registry/registry.js';
import { LAB_PREDICT_BODY, startLoad, type LoadRun } from '../helpers/load.js';
import { runCli, startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// CI installs Chromium (.ci/run) and sets this, so a missing browser fails there instead of skipping.
const REQUIRED = process.env.CI_REQUIRE_BROWSER === '1';
const INSTALL_HINT = `Chromium not found at ${CHROMIUM}: install it with \`apt-get install chromium\``;
const OUT = fileURLToPath(new URL('../../test-output/dashboard/', import.meta.url));
const TOKEN = 'dashboard-test-token';

if (!HAVE_CHROMIUM) {
  describe('dashboard in Chromium', () => {
    if (REQUIRED) {
      it('runs wherever CI_REQUIRE_BROWSER=1 (as in CI)', () => {
        throw new Error(INSTALL_HINT);
      });
    } else {
      console.warn(`dashboard browser tests skipped: ${INSTALL_HINT}`);
      it.skip(`skipped: ${INSTALL_HINT}`, () => undefined);
    }
  });
}

describe.runIf(HAVE_CHROMIUM)('dashboard in Chromium against flywheel up', () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  let load: LoadRun | null = null;
  /** Console errors and uncaught exceptions of the page, with the phase they happened in. */
  const problems: { phase: string; text: string }[] = [];
  /** Requests the page made to anywhere but the gateway. */
  const foreign: string[] = [];
  let phase = 'load';

  const adminTraffic = async (): Promise<{ mode: string; weight: number }> => {
    const res = await fetch(`${stack.url}/admin/traffic`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { mode: string; weight: number };
  };

  beforeAll(async () => {
    await mkdir(OUT, { recursive: true });
    stack = await startStack({ env: { FLYWHEEL_ADMIN_TOKEN: TOKEN }, logLevel: 'warn' });
    // A second version as the candidate, so the page has a split to show and two versions to chart.
    const trained = await runCli(
      ['train', '--registry', stack.registry, '--promote', 'canary', '--seed', '7', '--log-level', 'warn'],
      { timeoutMs: 30_000 },
    );
    expect(trained.code, trained.stderr).toBe(0);
    // launch() starts Chromium with a fresh temporary profile of its own, removed on close.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const origin = new URL(stack.url).origin;
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error') problems.push({ phase, text: m.text() });
    });
    page.on('pageerror', (err) => problems.push({ phase, text: `uncaught: ${err.message}` }));
    page.on('request', (req) => {
      const url = req.url();
      if (!url.startsWith('data:') && new URL(url).origin !== origin) foreign.push(url);
    });
  });

  afterAll(async () => {
    await load?.stop();
    await browser?.close();
    await stack?.cleanup();
  });

  it('loads without errors and shows the replicas and versions the gateway and registry report', async () => {
    await page.goto(`${stack.url}/`);
    await page.locator('#live.ok').waitFor({ timeout: 10_000 });

    // Replicas as the gateway's own /status lists them, each on its row, healthy.
    const status = (await (await fetch(`${stack.url}/status`)).json()) as {
      replicas: { url: string; state: string }[];
    };
    expect(status.replicas.length).toBe(2);
    for (const r of status.replicas) {
      const row = page.locator(`#system-body tr[data-component="${r.url}"]`);
      await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('healthy');
      expect(await row.textContent()).toContain(new URL(r.url).port);
    }

    // Versions as the registry holds them (read here straight from the folder), with their aliases.
    const registry = new Registry(stack.registry);
    const ids = await registry.versionIds();
    const aliases = await registry.readAliases();
    expect(ids.length).toBe(2);
    await expect
      .poll(() => page.locator('#versions-body tr[data-version]').count(), { timeout: 10_000 })
      .toBe(ids.length);
    const shown = await page
      .locator('#versions-body tr[data-version]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-version')));
    expect(shown).toEqual(ids); // newest first
    expect(await page.locator(`tr[data-version="${aliases.production}"]`).textContent()).toContain(
      'production',
    );
    expect(await page.locator(`tr[data-version="${aliases.candidate}"]`).textContent()).toContain(
      'candidate',
    );
    expect(problems).toEqual([]);
  });

  it('sets the canary weight with the token, and changes nothing without it', async () => {
    phase = 'admin';
    expect(await adminTraffic()).toMatchObject({ mode: 'off' });
    await page.selectOption('#mode', 'canary');
    await page.fill('#weight-number', '50');
    await page.click('#apply-traffic');
    await page.locator('#token-input').waitFor({ state: 'visible' });
    await page.fill('#token-input', TOKEN);
    await page.click('#dialog-confirm');
    await page.locator('#action-result.ok').waitFor({ timeout: 10_000 });
    expect(await adminTraffic()).toMatchObject({ mode: 'canary', weight: 50 });
    // The page follows the change it made.
    await expect.poll(() => page.locator('#split').textContent(), { timeout: 10_000 }).toContain('50%');

    // Without the token: the page forgets it, asks again, and the gateway refuses a wrong one.
    await page.click('#forget-token');
    await page.fill('#weight-number', '90');
    await page.click('#apply-traffic');
    await page.locator('#token-input').waitFor({ state: 'visible' });
    await page.click('#dialog-confirm'); // empty: refused by the page itself, nothing sent
    await expect.poll(() => page.locator('#dialog-error').textContent()).toContain('admin token');
    phase = 'wrong-token';
    await page.fill('#token-input', 'not-the-token');
    await page.click('#dialog-confirm');
    await page.locator('#action-result.bad').waitFor({ timeout: 10_000 });
    expect(await page.locator('#action-result').textContent()).toContain('401');
    expect(await adminTraffic()).toMatchObject({ mode: 'canary', weight: 50 });
    await page.click('#reset-traffic');
    expect(await page.inputValue('#weight-number')).toBe('50');
    phase = 'traffic';
  });

  it('updates the per-version charts while a client sends traffic', async () => {
    load = startLoad({ url: `${stack.url}/predict`, body: LAB_PREDICT_BODY, concurrency: 2, pauseMs: 10 });
    const rps = page.locator('figure[data-metric="rps"]');
    await expect.poll(() => rps.getAttribute('class'), { timeout: 15_000 }).not.toContain('no-data');
    // Both versions get traffic at a 50% canary: one line each, in the legend and in the charts.
    await expect.poll(() => page.locator('#chart-legend .legend-item').count(), { timeout: 15_000 }).toBe(2);
    const points = async () => Number(await page.locator('#charts').getAttribute('data-points'));
    const before = await points();
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThanOrEqual(before + 3);
    // Ground truth for some answers: the online error appears per version.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${stack.url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...LAB_PREDICT_BODY, user_id: i }),
      });
      expect(res.status).toBe(200);
      const answer = (await res.json()) as { request_id: string; prediction: number };
      // The gateway logs the prediction as it answers; a feedback racing that log is retried.
      await waitFor(
        async () => {
          const feedback = await fetch(`${stack.url}/feedback`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ request_id: answer.request_id, actual: answer.prediction + 2 }),
          });
          const text = await feedback.text();
          if (feedback.status === 404) return false;
          expect(feedback.status, text).toBe(200);
          return true;
        },
        { timeoutMs: 5000, what: `feedback for ${answer.request_id} to be accepted` },
      );
    }
    const mae = page.locator('figure[data-metric="mae"]');
    await expect.poll(() => mae.getAttribute('class'), { timeout: 10_000 }).not.toContain('no-data');
    const maes = (await mae.locator('.latest-value').allTextContents()).map((t) => Number.parseFloat(t));
    // Every actual was its prediction + 2: each version with feedback shows an MAE of 2.
    expect(maes.filter((x) => Number.isFinite(x)).length).toBeGreaterThan(0);
    for (const x of maes.filter((y) => Number.isFinite(y))) expect(x).toBeCloseTo(2, 3);
    const latest = await rps.locator('.latest-value').allTextContents();
    expect(latest).toHaveLength(2);
    for (const text of latest) expect(Number.parseFloat(text)).toBeGreaterThan(0);
    await expect(rps.locator('canvas').count()).resolves.toBeGreaterThan(0);
    // The system table shows the replicas taking that traffic.
    await expect
      .poll(
        async () =>
          Number.parseFloat(
            (await page.locator('#system-body tr[data-component="gateway"] td').last().textContent()) ?? '0',
          ),
        {
          timeout: 10_000,
        },
      )
      .toBeGreaterThan(0);

    await page.screenshot({ path: `${OUT}dashboard-1280x800.png`, fullPage: true });
    await page.setViewportSize({ width: 420, height: 860 });
    await page.locator('#charts').waitFor();
    await page.screenshot({ path: `${OUT}dashboard-420.png`, fullPage: true });
    const report = await load.stop();
    load = null;
    expect(report.failed, report.failures.join('\n')).toBe(0);
  });

  it('promotes the candidate from the page, which then shows it in the alias history', async () => {
    const registry = new Registry(stack.registry);
    const before = await registry.readAliases();
    expect(before.candidate).not.toBeNull();
    const reason = '<b>promoted</b> from the dashboard test';
    await page.click('#promote');
    await page.fill('#token-input', TOKEN); // the refused token was not kept: asked again
    await page.fill('#reason-input', reason);
    await page.click('#dialog-confirm');
    await page.locator('#action-result.ok').waitFor({ timeout: 10_000 });
    const after = await registry.readAliases();
    expect(after).toMatchObject({ production: before.candidate, candidate: null });
    const newest = page.locator('#history-body li').first();
    // The reason arrives as text: shown verbatim, never parsed as markup.
    await expect.poll(() => newest.textContent(), { timeout: 10_000 }).toContain(reason);
    expect(await newest.locator('b').count()).toBe(0);
    await expect.poll(() => page.locator('#promote').isDisabled(), { timeout: 10_000 }).toBe(true);
  });

  it('made no request elsewhere and logged no error but the refused token', () => {
    expect(foreign).toEqual([]);
    const unexpected = problems.filter((p) => !(p.phase === 'wrong-token' && /401/.test(p.text)));
    expect(unexpected).toEqual([]);
  });
});
