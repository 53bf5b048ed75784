/**
 * The dashboard's one page and its style sheet. Everything it needs is
 * served by keel (app.js, app.css): no CDN, no font, no image from
 * elsewhere. The script fills the sections from /events.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keel dashboard</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>keel</h1>
  <span id="connection" data-connection="connecting">connecting</span>
  <span id="summary"></span>
  <span id="updated"></span>
</header>
<main>
  <section id="cluster" aria-labelledby="cluster-title">
    <h2 id="cluster-title">Cluster</h2>
    <div id="cluster-facts" class="facts"></div>
    <div id="zones" class="zones"></div>
  </section>
  <section id="charts" aria-labelledby="charts-title">
    <h2 id="charts-title">Traffic</h2>
    <div class="charts">
      <figure><figcaption>requests / s <span class="legend" data-legend="rate"></span></figcaption><canvas id="chart-rate" data-chart="rate"></canvas></figure>
      <figure><figcaption>latency, ms <span class="legend" data-legend="latency"></span></figcaption><canvas id="chart-latency" data-chart="latency"></canvas></figure>
      <figure><figcaption>errors / s <span class="legend" data-legend="errors"></span></figcaption><canvas id="chart-errors" data-chart="errors"></canvas></figure>
    </div>
  </section>
  <section id="gateway" aria-labelledby="gateway-title">
    <h2 id="gateway-title">Gateway</h2>
    <div id="gateway-body" class="muted">no gateway configured</div>
  </section>
  <div class="columns">
    <section id="slo" aria-labelledby="slo-title">
      <h2 id="slo-title">SLOs</h2>
      <div id="slo-body" class="muted">no SLO file given (--slo)</div>
    </section>
    <section id="alerts" aria-labelledby="alerts-title">
      <h2 id="alerts-title">Alerts</h2>
      <div id="alerts-body" class="muted">no Prometheus or Alertmanager given (--prometheus, --alertmanager)</div>
    </section>
    <section id="load" aria-labelledby="load-title">
      <h2 id="load-title">Load test</h2>
      <div id="load-body" class="muted">no keel load metrics URL given (--load-metrics)</div>
    </section>
  </div>
</main>
</body>
</html>
`;

export const PAGE_STYLE = `:root { --ok: #1a7f37; --warn: #b26b00; --down: #cf222e; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 20px; background: #24292f; color: #fff; }
header h1 { margin: 0; font-size: 18px; }
#connection { padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #57606a; }
#connection[data-connection="live"] { background: var(--ok); }
#connection[data-connection="lost"] { background: var(--down); }
#updated { margin-left: auto; color: #c9d1d9; font-size: 12px; }
main { padding: 12px 20px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin-bottom: 12px; }
h2 { margin: 0 0 8px; font-size: 15px; }
.muted { color: var(--muted); }
.facts { display: flex; gap: 20px; margin-bottom: 8px; }
.facts b { font-variant-numeric: tabular-nums; }
.zones { display: flex; gap: 12px; flex-wrap: wrap; }
.zone { border: 1px dashed var(--line); border-radius: 6px; padding: 6px; min-width: 240px; flex: 1; }
.zone h3 { margin: 0 0 6px; font-size: 12px; color: var(--muted); text-transform: uppercase; }
.member { border-left: 5px solid var(--ok); background: #f0fff4; border-radius: 4px; padding: 6px 8px; margin-bottom: 6px; }
.member.health-warn { border-color: var(--warn); background: #fff8e5; }
.member.health-down { border-color: var(--down); background: #ffebe9; }
.member .name { font-weight: 600; }
.member dl { display: grid; grid-template-columns: auto 1fr auto 1fr; gap: 0 8px; margin: 4px 0 0; font-size: 12px; }
.member dt { color: var(--muted); }
.member dd { margin: 0; font-variant-numeric: tabular-nums; }
.member .reason { font-size: 12px; color: var(--down); }
.badge { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 8px; margin-left: 6px; background: #ddf4ff; color: #0969da; }
.badge.leader { background: #8250df; color: #fff; }
.badge.health-ok { background: var(--ok); color: #fff; }
.badge.health-warn { background: var(--warn); color: #fff; }
.badge.health-down { background: var(--down); color: #fff; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
figure { margin: 0; }
figcaption { font-size: 12px; color: var(--muted); margin-bottom: 2px; }
canvas { width: 100%; height: 160px; display: block; border: 1px solid var(--line); border-radius: 4px; }
.legend span { margin-left: 8px; }
.legend i { display: inline-block; width: 10px; height: 3px; margin-right: 3px; vertical-align: middle; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin-bottom: 8px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
th { color: var(--muted); font-weight: 500; }
tr.health-warn td:first-child { border-left: 4px solid var(--warn); }
tr.health-down td:first-child { border-left: 4px solid var(--down); }
tr.health-ok td:first-child { border-left: 4px solid var(--ok); }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
.columns section { margin-bottom: 0; }
.alert.state-firing, .alert.state-active { color: var(--down); }
.alert.state-pending { color: var(--warn); }
.error { color: var(--down); font-size: 12px; }
.meter { height: 8px; background: #eaeef2; border-radius: 4px; overflow: hidden; }
.meter > div { height: 100%; background: var(--ok); }
.meter > div.low { background: var(--down); }
`;
