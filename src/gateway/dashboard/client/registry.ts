// The Canary analysis, Registry and Alias history sections.
import type { AnalysisView, Overview, VersionStatsView } from '../api-types.js';
import { aliasBadge, badge, byId, emptyState, fill, h, table } from './dom.js';
import * as fmt from './format.js';

function verdictBadge(verdict: string): HTMLSpanElement {
  const v = verdict.toLowerCase();
  const kind =
    v.includes('promot') || v === 'pass' ? 'ok' : v.includes('roll') || v === 'fail' ? 'bad' : 'warn';
  return badge(verdict, kind);
}

export function renderAnalysis(analysis: AnalysisView | null, ov: Overview): void {
  const body = byId('analysis-body');
  if (analysis === null) {
    fill(body, emptyState('No analysis', 'This gateway does not report a canary analysis.'));
    return;
  }
  const rows = analysis.versions.map((v: VersionStatsView) =>
    h(
      'tr',
      null,
      h(
        'th',
        { scope: 'row' },
        h('code', null, v.version),
        v.alias ? ' ' : null,
        v.alias ? aliasBadge(v.alias) : null,
      ),
      h('td', { class: 'num' }, fmt.int(v.requests)),
      h('td', { class: 'num' }, v.requests > 0 ? fmt.percent(v.errors / v.requests, 2) : fmt.DASH),
      h('td', { class: 'num' }, fmt.ms(v.p50_ms)),
      h('td', { class: 'num' }, fmt.ms(v.p99_ms)),
      h('td', { class: 'num' }, fmt.num(v.mean_prediction)),
      h('td', { class: 'num' }, fmt.int(v.feedback)),
      h('td', { class: 'num' }, fmt.num(v.mae, 3)),
    ),
  );
  const children: Node[] = [
    h(
      'p',
      { class: 'verdict' },
      'Verdict ',
      verdictBadge(analysis.verdict),
      ' ',
      h('span', null, analysis.reason),
    ),
  ];
  if (ov.registry.production !== null && ov.registry.candidate === null) {
    children.push(
      emptyState(
        'No candidate',
        'Nothing to compare: a version becomes the candidate when trained with --promote canary.',
      ),
    );
  }
  if (rows.length > 0) {
    children.push(
      table(
        [
          'Version',
          { text: 'Requests', class: 'num' },
          { text: 'Errors', class: 'num' },
          { text: 'p50', class: 'num' },
          { text: 'p99', class: 'num' },
          { text: 'Mean pred.', class: 'num' },
          { text: 'Feedback', class: 'num' },
          { text: 'MAE', class: 'num' },
        ],
        rows,
        'per-version figures',
      ),
    );
    if (analysis.versions.every((v) => v.feedback === 0)) {
      children.push(
        emptyState('No feedback yet', 'MAE appears once ground truth arrives on POST /feedback.'),
      );
    }
  } else {
    children.push(
      emptyState('No traffic yet', 'Per-version figures appear once requests go through this gateway.'),
    );
  }
  fill(body, ...children);
}

export function renderVersions(ov: Overview, now: number): void {
  const body = byId('versions-body');
  const versions = ov.registry.versions;
  if (versions.length === 0) {
    fill(
      body,
      emptyState(
        'No model yet',
        'The registry holds no version: the trainer publishes one on its first run (flywheel train).',
      ),
    );
    return;
  }
  const rows = versions.map((v) =>
    h(
      'tr',
      { class: v.problem ? 'broken' : null, 'data-version': v.version },
      h(
        'th',
        { scope: 'row' },
        h('code', null, v.version),
        ...v.aliases.flatMap((a) => [' ', aliasBadge(a)]),
      ),
      h('td', { title: fmt.stamp(v.created_at) }, fmt.relative(v.created_at, now)),
      h(
        'td',
        { title: v.origin ?? undefined },
        v.algorithm ?? fmt.DASH,
        // Imported and command-trained versions say where they came from.
        v.origin !== null && v.origin !== 'Flywheel learner' ? h('div', { class: 'detail' }, v.origin) : null,
      ),
      h('td', { class: 'detail', title: v.source ?? undefined }, v.source ?? fmt.DASH),
      h('td', { class: 'num' }, fmt.int(v.rows)),
      h('td', { class: 'num' }, fmt.num(v.r2, 3)),
      h('td', { class: 'num' }, fmt.num(v.mae, 3)),
      h(
        'td',
        { class: 'detail' },
        v.problem ? badge('unloadable', 'bad', v.problem) : null,
        v.problem ? ` ${v.problem}` : null,
      ),
    ),
  );
  fill(
    body,
    table(
      [
        'Version',
        'Created',
        'Algorithm',
        'Data',
        { text: 'Rows', class: 'num' },
        { text: 'R²', class: 'num', title: 'holdout R²' },
        { text: 'MAE', class: 'num', title: 'holdout mean absolute error' },
        '',
      ],
      rows,
      'model versions',
    ),
  );
}

export function renderHistory(ov: Overview, now: number): void {
  const body = byId('history-body');
  const history = ov.registry.history;
  if (history.length === 0) {
    fill(
      body,
      emptyState('No alias change yet', 'Promotions and rollbacks appear here with who made them and why.'),
    );
    return;
  }
  fill(
    body,
    h(
      'ol',
      { class: 'history' },
      ...history
        .slice(0, 30)
        .map((c) =>
          h(
            'li',
            null,
            h(
              'div',
              { class: 'history-head' },
              h('span', { class: 'when', title: fmt.stamp(c.at) }, fmt.relative(c.at, now)),
              aliasBadge(c.alias),
              h('code', null, c.from ?? 'none'),
              h('span', { class: 'arrow', 'aria-label': 'to' }, '→'),
              h('code', null, c.to ?? 'none'),
            ),
            h(
              'div',
              { class: 'history-why' },
              h('span', null, c.reason),
              h('span', { class: 'muted' }, ` · by ${c.by}`),
            ),
          ),
        ),
    ),
  );
}
