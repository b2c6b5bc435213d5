// perfopt report viewer.
//
// Plain ES module, no framework, no network access beyond the report itself. Every report
// goes through `ParsedReport.parse` (perfopt-core compiled to WebAssembly), which parses and
// validates it; numbers are shown with core's `formatValue`, and edited rules are
// re-evaluated by core's `evaluate`, so the page shows exactly what `perfopt report show`
// shows.
//
// Test hooks: after every load attempt `body[data-state]` is `ready`, `error` or `empty` and
// `body[data-loaded-src]` names the source tried. Every number taken from `summaries` is a
// `<span class="value" data-metric data-stat data-unit>` whose text is
// `formatValue(summaries[metric][stat], data-unit)`; `data-unit` is the summary's unit, except
// for `rate_per_s` (a count per second whatever the metric), where it is `per_sec`.
//
// Two modes, one script:
// - served (`perfopt serve`, `monitor --serve`): the WebAssembly module is imported from
//   `./pkg/perfopt_web.js`; the report comes from `?src=` or the live `api/report`.
// - embedded (a self-contained `report.html`, see native/src/html_report.rs): the document
//   defines `window.perfoptEmbedded` before this script runs:
//     { wasm(): Promise<the initialised perfopt_web.js module>, report(): {text, name} }
//   The page then makes no request at all: it shows the embedded report at once, never
//   polls, and still opens other reports with the file picker or drag and drop.
// This script has no static import, so it can be inlined in such a document.

/** The self-contained report's hooks, or null when the page is served. */
const embedded = window.perfoptEmbedded ?? null;

// The WebAssembly API (perfopt-core), bound when the module has loaded.
let ParsedReport;
let formatValue;
let metricInfo;
let allMetrics;
let defaultRules;
let toolVersion;

/** The served module: the wasm-bindgen glue next to this page, initialised. */
async function loadServedWasm() {
  const wasm = await import('./pkg/perfopt_web.js');
  await wasm.default();
  return wasm;
}

// Start loading the WebAssembly module at once; everything that needs it awaits `ready`.
const ready = (async () => {
  const wasm = embedded ? await embedded.wasm() : await loadServedWasm();
  ({ ParsedReport, formatValue, metricInfo, allMetrics, defaultRules, toolVersion } = wasm);
})();

const LIVE_URL = 'api/report';
const LIVE_INTERVAL_MS = 2000;
const SVG_NS = 'http://www.w3.org/2000/svg';

const state = {
  /** @type {ParsedReport | null} the report on screen */
  parsed: null,
  /** its plain-object form */
  data: null,
  /** its JSON text, to skip identical live refreshes */
  text: null,
  /** where it came from */
  source: '',
  live: false,
  liveTimer: 0,
  /** `{rules, alerts, recommendations}` after "Re-evaluate", else null */
  evaluation: null,
  /** the rules the editor table was built from (JSON), to rebuild only on change */
  rulesKey: '',
  rulesDirty: false,
};

// ---------------------------------------------------------------------------------------
// DOM helpers

/** Creates an HTML element; `attrs` values of null/false are skipped. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Creates an SVG element. */
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const $ = (sel) => document.querySelector(sel);

function errorText(e) {
  if (e instanceof Error) return e.message;
  return String(e);
}

// ---------------------------------------------------------------------------------------
// Formatting

const METRIC_ORDER = new Map();

/** The unit of `metric`: core's definition, else the summary's, else a plain count. */
function unitOf(metric) {
  const info = metricInfo(metric);
  if (info) return info.unit;
  return state.data?.summaries?.[metric]?.unit ?? 'count';
}

/** `formatValue` for any value: a missing one (null, undefined) shows as `-`. */
function fmt(value, unit) {
  return formatValue(typeof value === 'number' ? value : NaN, unit);
}

/** Milliseconds since the report start as seconds: `62 s`, `62.5 s`. */
function fmtT(ms) {
  const sec = ms / 1000;
  return `${Number.isInteger(sec) ? sec : sec.toFixed(1)} s`;
}

/** A duration for people: `45 s`, `3 min 05 s`, `2 h 04 min`. */
function fmtDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const sec = Math.round(ms / 1000);
  if (ms < 60_000) return Number.isInteger(ms / 1000) || ms >= 10_000 ? `${sec} s` : `${(ms / 1000).toFixed(1)} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${String(sec % 60).padStart(2, '0')} s`;
  const min = Math.floor(sec / 60);
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')} min`;
}

/** A Unix-ms time as local `YYYY-MM-DD HH:MM:SS`. */
function fmtClock(unixMs, withDate = true) {
  const d = new Date(unixMs);
  if (Number.isNaN(d.getTime())) return '-';
  const p = (n) => String(n).padStart(2, '0');
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return withDate ? `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}` : time;
}

function tzLabel(unixMs) {
  const off = -new Date(unixMs).getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

const cap = (t) => (t ? t[0].toUpperCase() + t.slice(1) : t);
const cmpSymbol = (c) => (c === 'below' ? '<' : '>');

// ---------------------------------------------------------------------------------------
// Loading

/** Parses `text` from `source` and shows it; on error keeps the report on screen. */
function showText(text, source, { sameSource = false } = {}) {
  if (sameSource && text === state.text) {
    hideError();
    finish('ready', source);
    return true;
  }
  let parsed;
  try {
    parsed = ParsedReport.parse(text);
  } catch (e) {
    showError(source, errorText(e));
    finish('error', source);
    return false;
  }
  let data;
  try {
    data = parsed.data();
  } catch (e) {
    parsed.free();
    showError(source, errorText(e));
    finish('error', source);
    return false;
  }
  const previous = state.parsed;
  state.parsed = parsed;
  state.data = data;
  state.text = text;
  state.source = source;
  if (!sameSource) {
    state.evaluation = null;
    state.rulesDirty = false;
    state.rulesKey = '';
  } else if (state.evaluation) {
    // Live refresh with edited rules: keep the edits and replay the new series with them.
    try {
      state.evaluation = { rules: state.evaluation.rules, ...parsed.evaluate(state.evaluation.rules) };
    } catch {
      state.evaluation = null;
    }
  }
  if (previous) previous.free();
  hideError();
  render();
  finish('ready', source);
  return true;
}

/** Fetches `url` as text; throws an Error with a readable message. */
async function fetchText(url) {
  let res;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch (e) {
    throw new Error(`network error (${errorText(e)})`);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  return res.text();
}

async function loadUrl(url) {
  stopLive();
  let text;
  try {
    text = await fetchText(url);
  } catch (e) {
    showError(url, errorText(e));
    finish('error', url);
    return;
  }
  showText(text, url);
}

async function loadFile(file) {
  if (!file) return;
  await ready;
  stopLive();
  let text;
  try {
    text = await file.text();
  } catch (e) {
    showError(file.name, `could not read the file (${errorText(e)})`);
    finish('error', file.name);
    return;
  }
  showText(text, file.name);
}

/** Embedded mode: the report inside this self-contained document; nothing is fetched. */
function loadEmbedded() {
  let report;
  try {
    report = embedded.report();
  } catch (e) {
    showError('the embedded report', errorText(e));
    finish('error', 'embedded');
    return;
  }
  showText(report.text, report.name || 'embedded report');
}

/** Live mode: the native server's current report, re-fetched every 2 s. */
async function startLive() {
  let text;
  try {
    text = await fetchText(LIVE_URL);
  } catch {
    // No server behind us (a static copy of the page): invite the user to pick a file.
    finish('empty', LIVE_URL);
    return;
  }
  state.live = true;
  $('#live').hidden = false;
  showText(text, LIVE_URL);
  scheduleLive();
}

function scheduleLive() {
  clearTimeout(state.liveTimer);
  state.liveTimer = setTimeout(async () => {
    if (!state.live) return;
    try {
      const text = await fetchText(LIVE_URL);
      if (!state.live) return;
      showText(text, LIVE_URL, { sameSource: state.source === LIVE_URL });
      $('#live').classList.remove('stale');
    } catch (e) {
      if (!state.live) return;
      $('#live').classList.add('stale');
      showError(LIVE_URL, `live update failed: ${errorText(e)}`);
      finish('error', LIVE_URL);
    }
    scheduleLive();
  }, LIVE_INTERVAL_MS);
}

function stopLive() {
  state.live = false;
  clearTimeout(state.liveTimer);
  $('#live').hidden = true;
}

/** Records the outcome of a load attempt for people and tests. */
function finish(result, source) {
  const hasReport = state.data !== null;
  $('#report').hidden = !hasReport;
  $('#empty').hidden = hasReport;
  $('#source-name').textContent = hasReport ? state.source : '';
  $('#source-name').title = hasReport ? `Showing ${state.source}` : '';
  document.body.dataset.state = result === 'empty' && hasReport ? 'ready' : result;
  document.body.dataset.loadedSrc = source;
}

function showError(source, message) {
  $('#error-title').textContent = `Could not load ${source}`;
  $('#error-message').textContent = message;
  $('#error').hidden = false;
}

function hideError() {
  $('#error').hidden = true;
}

// ---------------------------------------------------------------------------------------
// Rendering

/** The rules, alerts and recommendations in effect: re-evaluated ones, else the report's. */
function effective() {
  if (state.evaluation) return state.evaluation;
  const d = state.data;
  return { rules: d.rules, alerts: d.alerts, recommendations: d.recommendations };
}

function render() {
  const ev = effective();
  renderMeta();
  renderCards();
  renderRecommendations(ev);
  renderCharts(ev);
  renderAlerts(ev);
  renderRulesEditor();
  renderProfile();
  for (const note of document.querySelectorAll('.eval-note')) note.hidden = !state.evaluation;
}

function renderMeta() {
  const { meta, series } = state.data;
  const target = meta.target
    ? h('p', { class: 'target' },
      h('span', { class: 'pill' }, `pid ${meta.target.pid}`),
      meta.target.command ? h('code', { class: 'command', title: meta.target.command }, meta.target.command) : null)
    : h('p', { class: 'target muted' }, 'System-wide (no target process)');
  const item = (label, value, title) => h('div', { class: 'meta-item' },
    h('dt', null, label), h('dd', { title }, value));
  const tz = tzLabel(meta.started_at);
  $('#meta').replaceChildren(
    h('div', { class: 'meta-main' },
      h('h1', { class: 'host' }, h('span', { class: 'muted host-label' }, 'Host '), meta.host),
      target),
    h('dl', { class: 'meta-grid' },
      item('Started', fmtClock(meta.started_at), `${tz} · ${meta.started_at} ms since the Unix epoch`),
      item('Ended', fmtClock(meta.ended_at), `${tz} · ${meta.ended_at} ms since the Unix epoch`),
      item('Duration', fmtDuration(meta.ended_at - meta.started_at)),
      item('Interval', fmtDuration(meta.interval_ms)),
      item('Samples', String(series.t_ms.length)),
      item('perfopt', meta.tool_version, `report written by perfopt ${meta.tool_version}`)),
  );
}

/** `<span class="value" …>` for `summaries[metric][stat]`, or null when absent. */
function statValue(metric, stat, extraClass) {
  const sum = state.data.summaries[metric];
  if (!sum || typeof sum[stat] !== 'number') return null;
  const unit = stat === 'rate_per_s' ? 'per_sec' : sum.unit;
  return h('span', {
    class: extraClass ? `value ${extraClass}` : 'value',
    'data-metric': metric,
    'data-stat': stat,
    'data-unit': unit,
  }, formatValue(sum[stat], unit));
}

const STAT_LABELS = {
  mean: 'mean', min: 'min', max: 'max', p50: 'p50', p90: 'p90', p95: 'p95', p99: 'p99',
  p999: 'p99.9', rate_per_s: 'rate',
};

/** One labelled figure; `big` for the headline numbers. */
function figure(label, metric, stat, big) {
  const v = statValue(metric, stat, big ? 'big' : null);
  if (!v) return null;
  return h('div', { class: big ? 'fig fig-big' : 'fig' }, h('span', { class: 'fig-label' }, label), v);
}

function card(id, title, metrics, rows, caption) {
  const present = rows.filter(Boolean);
  const firing = effective().recommendations.some(
    (r) => r.state === 'firing' && metrics.includes(r.evidence.metric));
  return h('article', {
    class: `card${present.length ? '' : ' card-empty'}${firing ? ' card-alert' : ''}`,
    'data-card': id,
    'aria-labelledby': `card-${id}`,
  },
  h('h3', { id: `card-${id}` }, title, firing ? h('span', { class: 'dot-alert', title: 'A rule on this metric is firing' }) : null),
  present.length ? present : h('p', { class: 'nodata' }, 'no data'),
  present.length && caption ? h('p', { class: 'caption' }, caption) : null);
}

/** A row of figures, or null if none of them has data. */
function row(...figs) {
  const present = figs.filter(Boolean);
  return present.length ? h('div', { class: 'fig-row' }, present) : null;
}

function renderCards() {
  const sm = state.data.summaries;
  const has = (m) => Boolean(sm[m]);
  const cards = [];

  cards.push(card('latency', 'Latency', ['latency_ms', 'latency_mean_ms', 'latency_p99_ms'], [
    row(figure('p95', 'latency_ms', 'p95', true), figure('p99', 'latency_ms', 'p99', true)),
    row(figure('p50', 'latency_ms', 'p50'), figure('mean', 'latency_ms', 'mean'), figure('max', 'latency_ms', 'max')),
  ], 'All request latencies over the run'));

  if (has('latency_ms')) {
    cards.push(card('throughput', 'Throughput', ['throughput_rps'], [
      row(figure('requests per second', 'latency_ms', 'rate_per_s', true)),
      row(figure('sampled max', 'throughput_rps', 'max')),
    ], 'Completed requests over the whole run'));
  } else {
    cards.push(card('throughput', 'Throughput', ['throughput_rps'], [
      row(figure('mean', 'throughput_rps', 'mean', true)),
      row(figure('max', 'throughput_rps', 'max')),
    ], 'Sampled requests per second'));
  }

  cards.push(card('errors', 'Error rate', ['error_rate_pct'], [
    row(figure('mean', 'error_rate_pct', 'mean', true)),
    row(figure('max', 'error_rate_pct', 'max')),
  ], 'Failed requests, percent'));

  cards.push(card('cpu', 'CPU', ['sys_cpu_pct', 'proc_cpu_pct'], [
    has('sys_cpu_pct') ? h('p', { class: 'fig-group' }, 'System') : null,
    row(figure('mean', 'sys_cpu_pct', 'mean', true), figure('p95', 'sys_cpu_pct', 'p95', true)),
    has('proc_cpu_pct') ? h('p', { class: 'fig-group' }, 'Process (% of one core)') : null,
    row(figure('mean', 'proc_cpu_pct', 'mean'), figure('p95', 'proc_cpu_pct', 'p95')),
  ]));

  const leak = state.data.memory?.leak;
  cards.push(card('memory', 'Memory', ['sys_mem_pct', 'proc_rss_bytes'], [
    has('sys_mem_pct') ? h('p', { class: 'fig-group' }, 'System') : null,
    row(figure('mean', 'sys_mem_pct', 'mean', true), figure('max', 'sys_mem_pct', 'max', true)),
    has('proc_rss_bytes') ? h('p', { class: 'fig-group' }, 'Process') : null,
    row(figure('RSS max', 'proc_rss_bytes', 'max')),
  ], leak && leak.verdict ? `Leak verdict: ${leak.verdict.replace(/_/g, ' ')}` : null));

  if (has('net_rx_bps') || has('net_tx_bps')) {
    cards.push(card('network', 'Network', ['net_rx_bps', 'net_tx_bps'], [
      row(figure('rx mean', 'net_rx_bps', 'mean', true), figure('tx mean', 'net_tx_bps', 'mean', true)),
      row(figure('rx max', 'net_rx_bps', 'max'), figure('tx max', 'net_tx_bps', 'max')),
    ]));
  }
  if (has('cache_hit_rate_pct')) {
    cards.push(card('cache', 'Cache hit rate', ['cache_hit_rate_pct'], [
      row(figure('mean', 'cache_hit_rate_pct', 'mean', true)),
      row(figure('min', 'cache_hit_rate_pct', 'min')),
    ]));
  }
  $('#cards').replaceChildren(...cards);
}

function renderRecommendations(ev) {
  const recs = ev.recommendations;
  const root = $('#recommendations');
  if (!recs.length) {
    root.replaceChildren(h('p', { class: 'none' }, h('span', { class: 'ok-mark', 'aria-hidden': 'true' }, '✓'), 'No recommendations: no rule fired during this run.'));
    return;
  }
  const rulesById = new Map(ev.rules.map((r) => [r.id, r]));
  root.replaceChildren(...recs.map((rec) => {
    const e = rec.evidence;
    const rule = rulesById.get(rec.rule);
    const unit = unitOf(e.metric);
    const info = metricInfo(e.metric);
    const startedAt = state.data.meta.started_at;
    const dd = (label, ...value) => h('div', null, h('dt', null, label), h('dd', null, ...value));
    return h('article', { class: `rec sev-${rec.severity} rec-${rec.state}`, 'data-rule': rec.rule, 'data-state': rec.state },
      h('div', { class: 'rec-head' },
        h('span', { class: `badge sev-${rec.severity}` }, cap(rec.severity)),
        h('span', { class: `state state-${rec.state}` }, rec.state),
        h('h3', null, rec.message),
        h('code', { class: 'rule-id', title: 'Rule id' }, rec.rule)),
      h('p', { class: 'advice' }, h('strong', null, 'What to do: '), rec.advice),
      h('dl', { class: 'evidence' },
        dd('Metric', h('code', null, e.metric), info ? h('span', { class: 'muted' }, ` — ${info.help}`) : null),
        dd('Observed',
          `${e.aggregate} over ${fmtDuration(e.window_s * 1000)}: `,
          h('b', { class: 'observed' }, fmt(e.observed, unit)),
          ' vs threshold ',
          h('b', { class: 'threshold' }, `${cmpSymbol(rule?.comparison)} ${fmt(e.threshold, unit)}`)),
        dd('Peak', h('b', null, fmt(e.peak, unit))),
        dd('Since',
          `t = ${fmtT(e.since_ms)} (${fmtClock(startedAt + e.since_ms, false)}), fired at t = ${fmtT(e.fired_at_ms)}`),
        dd('Fired', `${e.fired_count} ${e.fired_count === 1 ? 'time' : 'times'}`)));
  }));
}

function renderAlerts(ev) {
  const root = $('#alerts');
  if (!ev.alerts.length) {
    root.replaceChildren(h('p', { class: 'none' }, 'No alerts: every rule stayed inactive.'));
    return;
  }
  const rulesById = new Map(ev.rules.map((r) => [r.id, r]));
  const startedAt = state.data.meta.started_at;
  root.replaceChildren(h('table', { class: 'table alerts-table' },
    h('caption', { class: 'visually-hidden' }, 'Rule state changes, oldest first'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Clock'),
      h('th', { scope: 'col' }, 'Rule'), h('th', { scope: 'col' }, 'Metric'),
      h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col', class: 'num' }, 'Value'))),
    h('tbody', null, ev.alerts.map((a) => {
      const rule = rulesById.get(a.rule);
      const metric = rule?.metric ?? '';
      return h('tr', { 'data-rule': a.rule, 'data-alert-state': a.state },
        h('td', { class: 'num' }, `t = ${fmtT(a.at_ms)}`),
        h('td', null, fmtClock(startedAt + a.at_ms, false)),
        h('td', null, h('code', null, a.rule)),
        h('td', null, metric),
        h('td', null, h('span', { class: `state state-${a.state}` }, a.state)),
        h('td', { class: 'num' }, fmt(a.value, unitOf(metric))));
    }))));
}

// ---------------------------------------------------------------------------------------
// Charts

const PALETTE = ['#1f6feb', '#8250df', '#0f9d8a', '#d9480f', '#bf3989', '#2b8a3e', '#9a6700', '#1b7c9c'];
const GROUP_COLORS = {
  sys_cpu_pct: '#1f6feb', proc_cpu_pct: '#4c8df6', sys_load1: '#1b7c9c',
  sys_mem_pct: '#8250df', proc_rss_bytes: '#a371f7', proc_virt_bytes: '#b392f0', proc_threads: '#6e7781',
  net_rx_bps: '#0f9d8a', net_tx_bps: '#2b8a3e', disk_read_bps: '#9a6700', disk_write_bps: '#bc4c00',
  throughput_rps: '#1a7f37', latency_mean_ms: '#d9480f', latency_p99_ms: '#cf222e',
  error_rate_pct: '#cf222e', cache_hit_rate_pct: '#0969da',
};

function niceStep(span, ticks) {
  const raw = span / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** A y range and ticks that look tidy in `unit` (binary steps for bytes). */
function yScale(lo, hi, unit) {
  if (lo >= 0) lo = 0;
  if (hi <= lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo));
  let base = 1;
  if (unit === 'bytes' || unit === 'bytes_per_sec') {
    while (hi / base >= 1024) base *= 1024;
  }
  const step = niceStep((hi - lo) / base, 4) * base;
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let v = min; v <= max + step / 2; v += step) ticks.push(v);
  return { min, max, ticks };
}

const TIME_STEPS = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];

// The tier to draw: the full-resolution series while it covers the whole run, else the
// finest rollup tier that reaches further back (at most 5000 rows; its per-step mean), so a
// month-long report shows the month rather than its last day.
function tierOnScreen(data) {
  const { series, rollups } = data;
  const t = series.t_ms;
  const full = { label: null, tMs: t, columns: series };
  if (!Array.isArray(rollups) || !rollups.length || !t.length || t[0] <= rollups[0].step_ms) return full;
  const reaching = rollups.filter((r) => r.t_ms.length && r.t_ms[0] < t[0]);
  if (!reaching.length) return full;
  const tier = reaching.find((r) => r.t_ms.length <= 5000) ?? reaching[reaching.length - 1];
  const columns = {};
  for (const [name, m] of Object.entries(tier.metrics)) columns[name] = m.mean;
  const step = tier.step_ms >= 3600000 ? `${tier.step_ms / 3600000} h` : `${tier.step_ms / 60000} min`;
  return { label: `Whole run: ${step} rollup (mean of each step); the last ${fmtT(t[t.length - 1] - t[0])} are kept at full resolution.`, tMs: tier.t_ms, columns };
}

function renderCharts(ev) {
  const view = tierOnScreen(state.data);
  const names = Object.keys(view.columns).filter((k) => k !== 't_ms');
  names.sort((a, b) => (METRIC_ORDER.get(a) ?? 1e6) - (METRIC_ORDER.get(b) ?? 1e6) || a.localeCompare(b));
  const charts = names.map((name, i) => chart(name, view.tMs, view.columns[name], ev, i));
  const note = view.label ? [h('p', { class: 'none', id: 'tier-note' }, view.label)] : [];
  $('#charts').replaceChildren(...note, ...(charts.length ? charts : [h('p', { class: 'none' }, 'This report has no time series.')]));
}

function chart(name, tMs, values, ev, index) {
  const unit = unitOf(name);
  const info = metricInfo(name);
  const color = GROUP_COLORS[name] ?? PALETTE[index % PALETTE.length];
  const rules = ev.rules.filter((r) => r.metric === name);
  const W = 560;
  const H = 210;
  const M = { l: 74, r: 14, t: 12, b: 28 };
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;

  const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  let last = null;
  for (let i = values.length - 1; i >= 0; i--) {
    if (typeof values[i] === 'number') { last = values[i]; break; }
  }
  const head = h('div', { class: 'chart-head' },
    h('div', null,
      h('h3', { class: 'chart-title' }, info ? info.help.replace(/, (percent|bytes).*$/, '').replace(/, ms$/, '') : name),
      h('code', { class: 'chart-metric' }, name)),
    last !== null ? h('div', { class: 'chart-last', title: 'Last sample' }, h('span', { class: 'muted' }, 'last '), fmt(last, unit)) : null);

  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart-svg',
    role: 'img',
    'data-series': name,
  });
  if (!finite.length || !tMs.length) {
    svg.setAttribute('aria-label', `${name}: no samples`);
    svg.append(s('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'no samples'));
    return h('figure', { class: 'chart', 'data-series': name }, head, svg);
  }

  // A loop, not Math.min(...finite): a day of samples would overflow the argument list.
  let dataMin = Infinity;
  let dataMax = -Infinity;
  for (const v of finite) {
    if (v < dataMin) dataMin = v;
    if (v > dataMax) dataMax = v;
  }
  let lo = dataMin;
  let hi = dataMax;
  for (const r of rules) {
    lo = Math.min(lo, r.threshold);
    hi = Math.max(hi, r.threshold);
  }
  const y = yScale(lo, hi, unit);
  const t0 = tMs[0];
  const t1 = Math.max(tMs[tMs.length - 1], t0 + 1000);
  const X = (t) => M.l + ((t - t0) / (t1 - t0)) * pw;
  const Y = (v) => M.t + ph - ((v - y.min) / (y.max - y.min)) * ph;

  svg.setAttribute('aria-label',
    `${name} from t = ${fmtT(t0)} to ${fmtT(tMs[tMs.length - 1])}: min ${fmt(dataMin, unit)}, max ${fmt(dataMax, unit)}`);
  svg.append(s('title', null, `${name} (${unit})`));

  // Firing periods of rules on this metric.
  const shade = s('g', { class: 'firing-periods' });
  for (const r of rules) {
    let from = null;
    for (const a of ev.alerts.filter((x) => x.rule === r.id)) {
      if (a.state === 'firing') from = a.at_ms;
      else if (from !== null && (a.state === 'resolved' || a.state === 'inactive')) {
        shade.append(period(from, a.at_ms));
        from = null;
      }
    }
    if (from !== null) shade.append(period(from, tMs[tMs.length - 1]));
  }
  function period(a, b) {
    const x0 = X(Math.max(a, t0));
    const x1 = Math.max(X(Math.min(b, t1)), x0 + 2);
    return s('rect', { x: x0, y: M.t, width: x1 - x0, height: ph, class: 'firing' },
      s('title', null, `firing from t = ${fmtT(a)} to ${fmtT(b)}`));
  }

  // Grid and y labels.
  const grid = s('g', { class: 'grid' });
  for (const v of y.ticks) {
    const yy = Y(v);
    grid.append(s('line', { x1: M.l, x2: M.l + pw, y1: yy, y2: yy }));
    grid.append(s('text', { x: M.l - 6, y: yy + 3.5, 'text-anchor': 'end', class: 'axis-label' }, fmt(v, unit)));
  }
  // Time axis: seconds since the start.
  const spanS = (t1 - t0) / 1000;
  const stepS = TIME_STEPS.find((st) => spanS / st <= 7) ?? Math.ceil(spanS / 7);
  const xAxis = s('g', { class: 'x-axis' });
  xAxis.append(s('line', { x1: M.l, x2: M.l + pw, y1: M.t + ph, y2: M.t + ph, class: 'axis' }));
  for (let sec = Math.ceil(t0 / 1000 / stepS) * stepS; sec * 1000 <= t1; sec += stepS) {
    const xx = X(sec * 1000);
    xAxis.append(s('line', { x1: xx, x2: xx, y1: M.t + ph, y2: M.t + ph + 4, class: 'axis' }));
    xAxis.append(s('text', { x: xx, y: H - 8, 'text-anchor': 'middle', class: 'axis-label' }, `${sec} s`));
  }

  // The line, broken at nulls; an isolated sample is a dot. Long series keep, per half
  // pixel, only the first, lowest, highest and last sample: the same picture, far fewer points.
  const segs = [];
  let cur = [];
  let bucket = null;
  const flush = () => {
    if (!bucket) return;
    const pts = [bucket.first, bucket.min, bucket.max, bucket.last]
      .filter((p, k, all) => all.indexOf(p) === k)
      .sort((a, b) => a.i - b.i);
    for (const p of pts) cur.push([p.x, p.y]);
    bucket = null;
  };
  const dense = values.length > 2 * pw;
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      flush();
      if (cur.length) { segs.push(cur); cur = []; }
      return;
    }
    const p = { i, x: X(tMs[i]), y: Y(v) };
    if (!dense) { cur.push([p.x, p.y]); return; }
    const key = Math.floor(p.x * 2);
    if (bucket && bucket.key !== key) flush();
    if (!bucket) bucket = { key, first: p, min: p, max: p, last: p };
    if (p.y < bucket.min.y) bucket.min = p;
    if (p.y > bucket.max.y) bucket.max = p;
    bucket.last = p;
  });
  flush();
  if (cur.length) segs.push(cur);
  const base = Y(Math.max(y.min, Math.min(0, y.max)));
  const plot = s('g', { class: 'plot' });
  for (const seg of segs) {
    const pts = seg.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`);
    if (seg.length === 1) {
      plot.append(s('circle', { cx: seg[0][0], cy: seg[0][1], r: 2, fill: color }));
      continue;
    }
    plot.append(s('path', {
      d: `M${seg[0][0].toFixed(1)},${base.toFixed(1)}L${pts.join('L')}L${seg[seg.length - 1][0].toFixed(1)},${base.toFixed(1)}Z`,
      fill: color, class: 'area',
    }));
    plot.append(s('path', { d: `M${pts.join('L')}`, stroke: color, class: 'line' }));
  }

  // Threshold lines.
  const th = s('g', { class: 'thresholds' });
  for (const r of rules) {
    const yy = Y(r.threshold);
    th.append(s('line', { x1: M.l, x2: M.l + pw, y1: yy, y2: yy, class: `threshold sev-${r.severity}` }));
    const above = yy - M.t > 14;
    th.append(s('text', {
      x: M.l + pw - 4, y: above ? yy - 4 : yy + 12, 'text-anchor': 'end', class: `threshold-label sev-${r.severity}`,
    }, `${r.id} ${cmpSymbol(r.comparison)} ${fmt(r.threshold, unit)}`));
  }

  // Hover read-out.
  const cursor = s('g', { class: 'cursor', visibility: 'hidden' });
  const cLine = s('line', { y1: M.t, y2: M.t + ph });
  const cDot = s('circle', { r: 3.5, fill: color });
  const cBox = s('rect', { rx: 3, height: 20 });
  const cText = s('text', { class: 'cursor-text' });
  cursor.append(cLine, cDot, cBox, cText);
  const hit = s('rect', { x: M.l, y: M.t, width: pw, height: ph, class: 'hit' });
  hit.addEventListener('pointermove', (evt) => {
    const pt = svg.createSVGPoint();
    pt.x = evt.clientX;
    pt.y = evt.clientY;
    const local = pt.matrixTransform(svg.getScreenCTM().inverse());
    const t = t0 + ((local.x - M.l) / pw) * (t1 - t0);
    // Binary search for the sample nearest to t.
    let a = 0;
    let b = tMs.length - 1;
    while (b - a > 1) {
      const m = (a + b) >> 1;
      if (tMs[m] <= t) a = m; else b = m;
    }
    const best = Math.abs(tMs[a] - t) <= Math.abs(tMs[b] - t) ? a : b;
    const v = values[best];
    const xx = X(tMs[best]);
    cLine.setAttribute('x1', xx);
    cLine.setAttribute('x2', xx);
    const has = typeof v === 'number';
    cDot.setAttribute('visibility', has ? 'visible' : 'hidden');
    if (has) {
      cDot.setAttribute('cx', xx);
      cDot.setAttribute('cy', Y(v));
    }
    cText.textContent = `t = ${fmtT(tMs[best])}   ${has ? fmt(v, unit) : 'no sample'}`;
    const tw = cText.getComputedTextLength() + 12;
    const bx = xx + tw + 8 > M.l + pw ? xx - tw - 6 : xx + 6;
    cBox.setAttribute('x', bx);
    cBox.setAttribute('y', M.t + 2);
    cBox.setAttribute('width', tw);
    cText.setAttribute('x', bx + 6);
    cText.setAttribute('y', M.t + 16);
    cursor.setAttribute('visibility', 'visible');
  });
  hit.addEventListener('pointerleave', () => cursor.setAttribute('visibility', 'hidden'));

  svg.append(shade, grid, xAxis, plot, th, cursor, hit);
  return h('figure', { class: 'chart', 'data-series': name }, head, svg);
}

// ---------------------------------------------------------------------------------------
// Rules editor

const EDITABLE = [
  { key: 'threshold', label: 'Threshold', unitScale: 1 },
  { key: 'clear_threshold', label: 'Clear at', unitScale: 1 },
  { key: 'for_ms', label: 'For (s)', unitScale: 1000 },
];

function renderRulesEditor() {
  const key = JSON.stringify(state.data.rules);
  if (key === state.rulesKey) return;
  // A live refresh must not throw away the user's edits.
  if (state.rulesKey && (state.rulesDirty || state.evaluation)) return;
  state.rulesKey = key;
  buildRulesTable(state.data.rules);
}

function buildRulesTable(rules) {
  state.rulesDirty = false;
  $('#rules-error').hidden = true;
  $('#rules-status').textContent = '';
  if (!rules.length) {
    $('#rules-table').replaceChildren(h('p', { class: 'none' }, 'This report was evaluated without rules.'));
    $('#rules-apply').disabled = true;
    return;
  }
  $('#rules-apply').disabled = false;
  const input = (rule, field) => {
    const unit = unitOf(rule.metric);
    const value = field.key === 'for_ms' ? rule.for_ms / 1000 : rule[field.key];
    const label = `${rule.id}: ${field.label.toLowerCase()}${field.key === 'for_ms' ? '' : ` (${unit.replace(/_/g, ' ')})`}`;
    return h('input', {
      type: 'number',
      step: 'any',
      min: field.key === 'for_ms' ? '0' : null,
      inputmode: 'decimal',
      value: String(value),
      'data-rule': rule.id,
      'data-field': field.key,
      'data-original': String(value),
      'aria-label': label,
      class: 'num-input',
    });
  };
  $('#rules-table').replaceChildren(h('table', { class: 'table rules-table' },
    h('caption', { class: 'visually-hidden' }, 'Alert rules; thresholds are editable'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Rule'), h('th', { scope: 'col' }, 'Metric'),
      h('th', { scope: 'col' }, 'Condition'), h('th', { scope: 'col' }, 'Threshold'),
      h('th', { scope: 'col' }, 'Clear at'), h('th', { scope: 'col' }, 'For (s)'),
      h('th', { scope: 'col' }, 'Severity'))),
    h('tbody', null, rules.map((r) => h('tr', { 'data-rule': r.id },
      h('th', { scope: 'row' }, h('code', { title: r.message }, r.id)),
      h('td', null, r.metric),
      h('td', { class: 'cond' }, `${r.aggregate} over ${fmtDuration(r.window_ms)} ${cmpSymbol(r.comparison)}`),
      h('td', null, input(r, EDITABLE[0]), h('span', { class: 'unit' }, unitLabel(unitOf(r.metric)))),
      h('td', null, input(r, EDITABLE[1]), h('span', { class: 'unit' }, unitLabel(unitOf(r.metric)))),
      h('td', null, input(r, EDITABLE[2])),
      h('td', null, h('span', { class: `badge sev-${r.severity}` }, cap(r.severity))))))));
}

function unitLabel(unit) {
  return { percent: '%', bytes: 'B', bytes_per_sec: 'B/s', millis: 'ms', per_sec: '/s' }[unit] ?? '';
}

/** The report's rules with the editor's values; throws with a message naming the field. */
function editedRules() {
  const rules = structuredClone(state.data.rules);
  const byId = new Map(rules.map((r) => [r.id, r]));
  for (const el of document.querySelectorAll('#rules-table input[data-rule]')) {
    const rule = byId.get(el.dataset.rule);
    if (!rule) continue;
    const text = el.value.trim();
    const v = Number(text);
    if (text === '' || !Number.isFinite(v)) {
      el.focus();
      throw new Error(`${el.getAttribute('aria-label')}: enter a number`);
    }
    if (el.dataset.field === 'for_ms') {
      if (v < 0) {
        el.focus();
        throw new Error(`${el.getAttribute('aria-label')}: must not be negative`);
      }
      rule.for_ms = Math.round(v * 1000);
    } else {
      rule[el.dataset.field] = v;
    }
  }
  return rules;
}

function onRulesInput(e) {
  const el = e.target;
  if (!(el instanceof HTMLInputElement)) return;
  el.classList.toggle('changed', el.value.trim() !== el.dataset.original);
  state.rulesDirty = [...document.querySelectorAll('#rules-table input')].some((i) => i.classList.contains('changed'));
  $('#rules-status').textContent = state.rulesDirty ? 'Edited: press Re-evaluate to apply.' : '';
}

function onReevaluate(e) {
  e.preventDefault();
  const err = $('#rules-error');
  if (!state.parsed) return;
  let rules;
  let result;
  try {
    rules = editedRules();
    result = state.parsed.evaluate(rules);
  } catch (x) {
    err.textContent = errorText(x);
    err.hidden = false;
    return;
  }
  err.hidden = true;
  state.evaluation = { rules, alerts: result.alerts, recommendations: result.recommendations };
  const ev = effective();
  renderCards();
  renderRecommendations(ev);
  renderCharts(ev);
  renderAlerts(ev);
  for (const note of document.querySelectorAll('.eval-note')) note.hidden = false;
  const firing = result.recommendations.filter((r) => r.state === 'firing').length;
  $('#rules-status').textContent =
    `Re-evaluated in the browser: ${result.recommendations.length} recommendation(s), ${firing} firing at the end, ${result.alerts.length} state change(s).`;
}

function onResetRules() {
  if (!state.data) return;
  state.evaluation = null;
  state.rulesKey = JSON.stringify(state.data.rules);
  buildRulesTable(state.data.rules);
  render();
  $('#rules-status').textContent = 'Reset to the report\'s rules and results.';
}

// ---------------------------------------------------------------------------------------
// Profile (present when the run recorded scopes)

function renderProfile() {
  const rows = Array.isArray(state.data.profile) ? state.data.profile : [];
  $('#profile-panel').hidden = rows.length === 0;
  if (!rows.length) return;
  const cols = ['scope', 'calls', 'total_ms', 'self_ms', 'mean_ms', 'p50_ms', 'p99_ms', 'max_ms'];
  const cell = (r, c) => {
    const v = r[c];
    if (typeof v !== 'number') return h('td', null, v === undefined ? '' : String(v));
    if (c.endsWith('_ms')) return h('td', { class: 'num' }, formatValue(v, 'millis'));
    return h('td', { class: 'num' }, v.toLocaleString('en-US'));
  };
  $('#profile').replaceChildren(h('table', { class: 'table' },
    h('caption', { class: 'visually-hidden' }, 'Profile scopes by cumulative time'),
    h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: c === 'scope' ? null : 'num' }, c.replace(/_ms$/, ' (ms)').replace('_', ' '))))),
    h('tbody', null, rows.slice(0, 20).map((r) => h('tr', null, cols.map((c) => cell(r, c)))))));
}

// ---------------------------------------------------------------------------------------
// Wiring

function setupUi() {
  allMetrics().forEach((m, i) => METRIC_ORDER.set(m.name, i));
  $('#viewer-version').textContent = toolVersion();
  $('#file').addEventListener('change', (e) => {
    const file = e.target.files?.[0];
    loadFile(file);
    e.target.value = '';
  });
  $('#error-close').addEventListener('click', hideError);
  $('#rules').addEventListener('submit', onReevaluate);
  $('#rules').addEventListener('input', onRulesInput);
  $('#rules-reset').addEventListener('click', onResetRules);
}

/** Drag and drop anywhere on the page; wired before the module loads so a drop never navigates away. */
function setupDrop() {
  const zone = $('#dropzone');
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    zone.hidden = false;
  });
  window.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.hidden = true;
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    zone.hidden = true;
    loadFile(e.dataTransfer.files[0]);
  });
}

async function main() {
  setupDrop();
  try {
    await ready;
  } catch (e) {
    showError('the viewer', `WebAssembly failed to load: ${errorText(e)}`);
    finish('error', '');
    return;
  }
  setupUi();
  void defaultRules; // exported for scripts and tests; the editor edits the report's own rules
  if (embedded) {
    loadEmbedded();
    return;
  }
  const src = new URLSearchParams(location.search).get('src');
  if (src) await loadUrl(src);
  else await startLive();
}

main();
