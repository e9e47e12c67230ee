// The dashboard's HTML shell and stylesheet. The shell holds no data: the page's script fills every
// section from the overview API. Kept as strings in a module so the build needs no copy step.

export const ASSET_PREFIX = '/dashboard/assets/';

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flywheel dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSET_PREFIX}uPlot.min.css">
<link rel="stylesheet" href="${ASSET_PREFIX}dashboard.css">
<script src="${ASSET_PREFIX}uPlot.iife.min.js" defer></script>
<script src="${ASSET_PREFIX}app.js" type="module"></script>
<script src="${ASSET_PREFIX}drift.js" type="module"></script>
</head>
<body>
<header class="top">
  <h1 class="brand"><span class="logo" aria-hidden="true"></span>Flywheel</h1>
  <div id="gw-summary" class="gw-summary"></div>
  <div class="spacer"></div>
  <button id="forget-token" class="link" type="button" hidden>Forget admin token</button>
  <span id="live" class="live" title="waiting for the first answer">connecting…</span>
</header>
<div id="connection" class="banner bad" role="alert" hidden></div>
<div id="problems" class="banner warn" role="status" hidden></div>
<main class="grid">
  <section class="card span-7" id="system" aria-labelledby="system-h">
    <h2 id="system-h">System</h2>
    <div id="system-body"><p class="muted">Loading…</p></div>
  </section>
  <section class="card span-5" id="traffic" aria-labelledby="traffic-h">
    <h2 id="traffic-h">Traffic</h2>
    <div id="split"></div>
    <form id="traffic-form" class="traffic-form">
      <label for="mode">Mode</label>
      <select id="mode" name="mode">
        <option value="off">off</option>
        <option value="canary">canary</option>
        <option value="sticky">sticky (A/B by user)</option>
        <option value="shadow">shadow</option>
      </select>
      <label for="weight-number">Candidate weight</label>
      <div class="weight">
        <input id="weight" type="range" min="0" max="100" step="1" value="0" aria-label="candidate weight slider">
        <input id="weight-number" name="weight" type="number" min="0" max="100" step="any" value="0" inputmode="decimal">
        <span>%</span>
      </div>
      <p id="mode-help" class="help"></p>
      <div class="buttons">
        <button id="apply-traffic" type="submit" class="primary">Apply</button>
        <span id="unsaved" class="help" hidden>not applied yet</span>
        <button id="reset-traffic" type="button" class="link" hidden>Reset</button>
      </div>
    </form>
    <div class="buttons actions">
      <button id="promote" type="button">Promote candidate</button>
      <button id="rollback" type="button" class="danger">Roll back</button>
    </div>
    <p id="admin-off" class="help" hidden>Operator actions are off: this gateway runs without an admin token
      (start it with <code>--admin-token</code> or <code>FLYWHEEL_ADMIN_TOKEN</code>).</p>
    <div id="action-result" class="action-result" role="status" aria-live="polite"></div>
  </section>
  <section class="card span-12" id="live-charts" aria-labelledby="charts-h">
    <div class="card-head"><h2 id="charts-h">Live, per version</h2><div id="chart-legend" class="legend"></div></div>
    <div id="charts" class="charts"></div>
  </section>
  <section class="card span-12" id="analysis" aria-labelledby="analysis-h">
    <h2 id="analysis-h">Canary analysis</h2>
    <div id="analysis-body"></div>
  </section>
  <section class="card span-12" id="drift" aria-labelledby="drift-h">
    <h2 id="drift-h">Drift, per version</h2>
    <div id="drift-body"><p class="muted">Loading…</p></div>
  </section>
  <section class="card span-12" id="registry" aria-labelledby="registry-h">
    <h2 id="registry-h">Registry</h2>
    <div id="versions-body"></div>
  </section>
  <section class="card span-7" id="trainer" aria-labelledby="trainer-h">
    <h2 id="trainer-h">Trainer</h2>
    <div id="trainer-body"></div>
  </section>
  <section class="card span-5" id="history" aria-labelledby="history-h">
    <h2 id="history-h">Alias history</h2>
    <div id="history-body"></div>
  </section>
</main>
<dialog id="action-dialog" aria-labelledby="dialog-title">
  <form id="action-form" method="dialog">
    <h2 id="dialog-title">Confirm</h2>
    <p id="dialog-summary" class="summary"></p>
    <div id="token-row" class="field">
      <label for="token-input">Admin token</label>
      <input id="token-input" type="password" autocomplete="off" spellcheck="false">
      <span class="help">Kept in this tab only (session storage) once the gateway accepts it.</span>
    </div>
    <div id="reason-row" class="field">
      <label for="reason-input">Reason (kept in the alias history)</label>
      <input id="reason-input" type="text" maxlength="200" autocomplete="off">
    </div>
    <p id="dialog-error" class="dialog-error" role="alert"></p>
    <div class="buttons">
      <button id="dialog-cancel" type="submit" value="cancel" formnovalidate>Cancel</button>
      <button id="dialog-confirm" type="submit" value="confirm" class="primary">Confirm</button>
    </div>
  </form>
</dialog>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root {
  --bg: #f1f5f9; --card: #fff; --fg: #0f172a; --muted: #64748b; --line: #e2e8f0;
  --ok: #15803d; --ok-bg: #dcfce7; --warn: #a16207; --warn-bg: #fef9c3; --bad: #b91c1c; --bad-bg: #fee2e2;
  --prod: #2563eb; --cand: #ea580c; --accent: #2563eb;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
h1, h2 { margin: 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin-bottom: 10px; }
.muted { color: var(--muted); }
.top { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; padding: 10px 20px;
  background: #0f172a; color: #e2e8f0; position: sticky; top: 0; z-index: 5; }
.brand { font-size: 17px; font-weight: 650; display: flex; align-items: center; gap: 8px; color: #fff; }
.logo { width: 18px; height: 18px; border-radius: 50%; border: 4px solid var(--cand); border-right-color: var(--prod);
  border-bottom-color: var(--prod); display: inline-block; }
.gw-summary { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; font-size: 13px; }
.gw-summary .muted { color: #94a3b8; }
.spacer { flex: 1; }
.live { font-size: 12px; padding: 2px 10px; border-radius: 999px; background: #334155; color: #cbd5e1; }
.live.ok { background: #14532d; color: #bbf7d0; }
.live.ok::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%;
  background: #4ade80; margin-right: 6px; vertical-align: 1px; }
.live.bad { background: #7f1d1d; color: #fecaca; }
.top .link { color: #93c5fd; }
.banner { margin: 12px 20px 0; padding: 10px 14px; border-radius: 8px; }
.banner.bad { background: var(--bad-bg); color: var(--bad); }
.banner.warn { background: var(--warn-bg); color: #713f12; }
.grid { display: grid; grid-template-columns: repeat(12, minmax(0, 1fr)); gap: 14px; padding: 14px 20px 28px;
  max-width: 1600px; margin: 0 auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; min-width: 0; }
.span-5 { grid-column: span 5; } .span-6 { grid-column: span 6; } .span-7 { grid-column: span 7; }
.span-12 { grid-column: span 12; }
.card-head { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
.card-head h2 { margin-bottom: 8px; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: middle; }
thead th { font-size: 11.5px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
tbody th { font-weight: 500; }
tbody tr:last-child > * { border-bottom: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.detail { max-width: 260px; overflow: hidden; text-overflow: ellipsis; color: var(--muted); }
td.detail.wrap { white-space: normal; min-width: 140px; overflow-wrap: anywhere; }
.name { display: block; font-weight: 600; }
.kind { display: block; font-size: 11.5px; color: var(--muted); }
.states { display: inline-flex; gap: 4px; flex-wrap: wrap; }
tr.broken { background: #fff7f7; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11.5px; font-weight: 600;
  background: #f1f5f9; color: var(--muted); line-height: 18px; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.prod { background: #dbeafe; color: #1d4ed8; }
.badge.cand { background: #ffedd5; color: #c2410c; }
.empty { border: 1px dashed #cbd5e1; border-radius: 8px; padding: 10px 12px; margin: 8px 0; color: var(--muted);
  display: flex; flex-direction: column; gap: 2px; background: #f8fafc; }
.empty strong { color: var(--fg); font-weight: 600; }
.facts { display: flex; gap: 4px 18px; flex-wrap: wrap; margin: 0 0 8px; }
.facts.below { margin: 10px 0 0; font-size: 12.5px; }
.detail-line { overflow-wrap: anywhere; }
.mode-line { margin: 0 0 8px; }
.split-bar { display: flex; height: 14px; border-radius: 7px; overflow: hidden; background: var(--line); }
.seg { display: block; height: 100%; transition: width .4s; }
.seg.prod { background: var(--prod); } .seg.cand { background: var(--cand); }
.split-legend { display: flex; gap: 4px 16px; flex-wrap: wrap; margin: 6px 0 10px; font-size: 13px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.swatch.cp { background: var(--prod); } .swatch.cc { background: var(--cand); }
.swatch.c0 { background: #7c3aed; } .swatch.c1 { background: #0d9488; } .swatch.c2 { background: #db2777; }
.swatch.c3 { background: #64748b; } .swatch.c4 { background: #a16207; }
.traffic-form { display: grid; grid-template-columns: auto 1fr; gap: 8px 12px; align-items: center;
  border-top: 1px solid var(--line); padding-top: 12px; }
.traffic-form label { font-weight: 500; }
.traffic-form .help, .traffic-form .buttons { grid-column: 1 / -1; }
.weight { display: flex; align-items: center; gap: 8px; min-width: 0; }
.weight input[type=range] { flex: 1; min-width: 60px; accent-color: var(--cand); }
.weight input[type=number] { width: 76px; }
.help { color: var(--muted); font-size: 12.5px; margin: 0; }
select, input[type=number], input[type=text], input[type=password] { font: inherit; padding: 5px 8px;
  border: 1px solid #cbd5e1; border-radius: 6px; background: #fff; color: var(--fg); min-width: 0; }
.buttons { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
.actions { margin-top: 12px; padding-top: 12px; border-top: 1px solid var(--line); }
button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid #cbd5e1; background: #fff;
  color: var(--fg); cursor: pointer; }
button:hover:not(:disabled) { border-color: #94a3b8; }
button:disabled { opacity: .5; cursor: not-allowed; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--bad); border-color: #fca5a5; }
button.link { border: 0; background: none; padding: 2px 4px; color: var(--accent); text-decoration: underline; }
.action-result { margin-top: 10px; font-size: 13px; }
.action-result:empty { display: none; }
.action-result.ok { color: var(--ok); } .action-result.bad { color: var(--bad); }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12.5px; }
.legend-item { display: inline-flex; align-items: center; gap: 5px; }
.charts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 12px; }
.chart { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px 4px; min-width: 0; position: relative; }
.chart figcaption { display: flex; justify-content: space-between; gap: 8px; align-items: baseline; flex-wrap: wrap;
  font-size: 12.5px; margin-bottom: 4px; }
.chart-title { font-weight: 600; }
.latest { display: flex; gap: 10px; flex-wrap: wrap; font-variant-numeric: tabular-nums; }
.latest-value { white-space: nowrap; }
.plot { height: 150px; }
.plot-empty { display: none; }
.chart.no-data .plot { display: none; }
.chart.no-data .plot-empty { display: flex; height: 150px; align-items: center; }
.chart.no-data .plot-empty .empty { width: 100%; margin: 0; font-size: 12.5px; }
.verdict { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; margin: 0 0 8px; }
ol.history { list-style: none; margin: 0; padding: 0; max-height: 340px; overflow-y: auto; }
ol.history li { padding: 7px 0; border-bottom: 1px solid var(--line); }
ol.history li:last-child { border-bottom: 0; }
.history-head { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.history-head .when { color: var(--muted); min-width: 64px; font-size: 12.5px; }
.history-why { font-size: 12.5px; margin-top: 2px; overflow-wrap: anywhere; }
dialog { border: 0; border-radius: 12px; padding: 0; width: min(440px, calc(100vw - 24px));
  box-shadow: 0 20px 50px rgba(15, 23, 42, .35); }
dialog::backdrop { background: rgba(15, 23, 42, .45); }
dialog form { padding: 18px 20px; display: flex; flex-direction: column; gap: 12px; }
dialog h2 { font-size: 16px; text-transform: none; letter-spacing: 0; color: var(--fg); margin: 0; }
dialog .summary { margin: 0; font-weight: 500; overflow-wrap: anywhere; }
.field { display: flex; flex-direction: column; gap: 4px; }
.field[hidden] { display: none; }
.dialog-error { margin: 0; color: var(--bad); min-height: 1em; overflow-wrap: anywhere; }
dialog .buttons { justify-content: flex-end; }
@media (max-width: 1100px) {
  .charts { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
@media (max-width: 900px) {
  .span-5, .span-6, .span-7 { grid-column: span 12; }
}
@media (max-width: 600px) {
  .grid { padding: 10px; gap: 10px; }
  .top { padding: 8px 12px; gap: 8px; }
  .banner { margin: 10px 10px 0; }
  .card { padding: 12px; }
  .charts { grid-template-columns: minmax(0, 1fr); }
  .traffic-form { grid-template-columns: minmax(0, 1fr); }
  .traffic-form .weight { grid-column: 1; }
}
.drift-controls { display: flex; align-items: center; gap: 6px; margin-bottom: 8px; }
.drift-version { border-top: 1px solid var(--line); padding-top: 8px; margin-top: 8px; }
.drift-version h3 { margin: 0; font-size: 14px; }
.drift-figure { margin: 8px 0 0; }
`;
