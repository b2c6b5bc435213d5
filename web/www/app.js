// perfopt report viewer.
//
// Plain ES module, no framework, no network access beyond the report itself. Every report
// goes through `ParsedReport.parse` (perfopt-core compiled to WebAssembly), which parses and
// validates it; numbers are shown with core's `formatValue`, and edited rules are
// re-evaluated by core's `evaluate`, so the page shows exactly what `perfopt report show`
// shows.
//
// Test hooks: after every load attempt `body[data-state]` is `ready`, `error` or `empty`
// (`overview` while the server's overview is on screen and the whole report loads) and
// `body[data-loaded-src]` names the source tried. Every number taken from `summaries` is a
// `<span class="value" data-metric data-stat data-unit>` whose text is
// `formatValue(summaries[metric][stat], data-unit)`; `data-unit` is the summary's unit, except
// for `rate_per_s` (a count per second whatever the metric), where it is `per_sec`.
//
// Also: `body[data-stream]` is `open` / `down` in live mode, `body[data-samples]` the samples on
// screen, `body[data-span-from|to]` the zoomed span (ms since the start, empty when none) and
// `window.perfoptViewer` exposes timings for the browser benchmark.
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
let mergeReports;
let compareReports;

/** The served module: the wasm-bindgen glue next to this page, initialised. */
async function loadServedWasm() {
  const wasm = await import('./pkg/perfopt_web.js');
  const exports = await wasm.default();
  if (exports?.memory) wasmMemory = exports.memory;
  return wasm;
}

/** The module's linear memory, for the benchmark's memory figure (served mode). */
let wasmMemory = null;

// Start loading the WebAssembly module at once; everything that needs it awaits `ready`.
const ready = (async () => {
  const wasm = embedded ? await embedded.wasm() : await loadServedWasm();
  ({ ParsedReport, formatValue, metricInfo, allMetrics, defaultRules, toolVersion, mergeReports, compareReports } = wasm);
})();

const LIVE_URL = 'api/report';
const EVENTS_URL = 'api/events';
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
  /** the report on screen is the server's overview; the whole one is loading */
  overview: false,
  /** a span asked for while the overview was on screen (`undefined`: none) */
  pendingSpan: undefined,
  live: false,
  /** the EventSource of live mode */
  stream: null,
  /** the zoomed span `{from, to}` (ms since the start), or null for the whole run */
  span: null,
  /** core's summaries of the span, or null */
  spanSummaries: null,
  lastZoomMs: 0,
  /** the report compared with, `{parsed, data, name}`, or null */
  compare: null,
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

/** Parses `text` from `source` and shows it; on error keeps the report on screen.
 * `overview`: the text is the server's overview (`api/report?overview`), to be followed
 * by the whole report (loadFull). */
function showText(text, source, { sameSource = false, overview = false } = {}) {
  if (sameSource && text === state.text) {
    hideError();
    finish('ready', source);
    return true;
  }
  let parsed;
  mark('text');
  try {
    parsed = ParsedReport.parse(text);
  } catch (e) {
    showError(source, errorText(e));
    finish('error', source);
    return false;
  }
  // The plain object, exactly as `parsed.data()` gives it, without re-encoding a large
  // report: the text passed core's validation above.
  mark('wasm_parse');
  const data = JSON.parse(text);
  mark('js_parse');
  return showParsed(parsed, data, text, source, { sameSource, overview });
}

/** Shows a report already parsed by core; `data` is its plain-object form. */
function showParsed(parsed, data, text, source, { sameSource = false, overview = false } = {}) {
  const previous = state.parsed;
  state.parsed = parsed;
  state.data = data;
  state.text = text;
  state.source = source;
  state.overview = overview;
  state.spanSummaries = null; // recomputed by render() for the new data
  if (!sameSource) {
    state.evaluation = null;
    state.rulesDirty = false;
    state.rulesKey = '';
    state.span = null;
    state.spanSummaries = null;
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
  mark('render');
  finish(overview ? 'overview' : 'ready', source);
  return true;
}

/** Milestones of the last load (ms since navigation), for the benchmark. */
const marks = {};
function mark(name) {
  marks[name] = performance.now();
}

/** Several files dropped or picked at once: core merges them into one fleet report. */
async function loadFiles(files) {
  if (files.length < 2) return loadFile(files[0]);
  await ready;
  stopLive();
  const names = files.map((f) => f.name);
  const label = `fleet of ${names.join(' + ')}`;
  let texts;
  try {
    texts = await Promise.all(files.map((f) => f.text()));
  } catch (e) {
    showError(label, `could not read the files (${errorText(e)})`);
    finish('error', label);
    return;
  }
  let merged;
  try {
    merged = mergeReports(texts, names);
  } catch (e) {
    showError(label, errorText(e));
    finish('error', label);
    return;
  }
  const data = merged.data();
  showParsed(merged, data, null, label);
}

/** Fetches `url` as `{text, overview}` (overview: the server marked it as the smaller
 * first payload of `api/report?overview`); throws an Error with a readable message. */
async function fetchReport(url) {
  let res;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch (e) {
    throw new Error(`network error (${errorText(e)})`);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  return { text: await res.text(), overview: res.headers.get('x-perfopt-overview') === '1' };
}

async function fetchText(url) {
  return (await fetchReport(url)).text;
}

/** Where to ask for an overview first: perfopt's own `api/report` on this origin (no
 * query), else null (a file, or another server: loaded whole). */
function overviewUrl(url) {
  let u;
  try {
    u = new URL(url, location.href);
  } catch {
    return null;
  }
  if (u.origin !== location.origin || u.search || !u.pathname.endsWith('/api/report')) return null;
  return `${url}?overview`;
}

/** Loads the report at `url`; `prefetched`, when given, is its fetch already under way
 * (possibly of its overview). */
async function loadUrl(url, prefetched = null) {
  stopLive();
  let got;
  try {
    got = await (prefetched ?? fetchReport(url));
  } catch (e) {
    showError(url, errorText(e));
    finish('error', url);
    return;
  }
  showText(got.text, url, { overview: got.overview });
}

/** After an overview: the whole report from the same place, shown in its stead with the
 * span and edited rules kept (then the live stream, in live mode). */
async function loadFull() {
  const url = state.source;
  let text;
  try {
    text = await fetchText(url);
  } catch (e) {
    showError(url, `${errorText(e)} (the overview stays on screen)`);
    finish('error', url);
    return false;
  }
  if (!state.overview || state.source !== url) return false; // another report came meanwhile
  showText(text, url, { sameSource: true });
  if (state.live) openStream();
  return true;
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

/** Live mode: the native server's current report, then its deltas over /api/events. */
async function startLive(prefetched = null) {
  let got;
  try {
    got = await (prefetched ?? fetchReport(LIVE_URL));
  } catch {
    // No server behind us (a static copy of the page): invite the user to pick a file.
    finish('empty', LIVE_URL);
    return;
  }
  state.live = true;
  $('#live').hidden = false;
  // After an overview, the stream opens once the whole report is on screen (loadFull).
  if (showText(got.text, LIVE_URL, { overview: got.overview }) && !got.overview) openStream();
}

/** Follows /api/events from the report on screen; EventSource reconnects by itself with the
 * last event id, and the server resends everything after it, so nothing is lost. */
function openStream() {
  closeStream();
  if (!state.live || !state.parsed) return;
  const es = new EventSource(`${EVENTS_URL}?from=${encodeURIComponent(state.parsed.cursor())}`);
  state.stream = es;
  let wasDown = document.body.dataset.stream === 'down';
  es.addEventListener('hello', () => {
    setStreamStatus('open', wasDown ? 'live again: caught up' : '');
    wasDown = false;
  });
  es.addEventListener('delta', (e) => {
    if (state.stream !== es) return;
    onDelta(e.data);
  });
  es.addEventListener('error', () => {
    if (state.stream !== es) return;
    wasDown = true;
    setStreamStatus('down', 'stream lost: reconnecting…');
  });
}

function closeStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
}

function setStreamStatus(which, text) {
  document.body.dataset.stream = which;
  $('#live').classList.toggle('stale', which === 'down');
  $('#stream-status').textContent = text;
  $('#stream-status').className = `stream-status stream-${which}`;
}

/** Appends one delta to the report on screen (core first, then the plain copy). */
function onDelta(text) {
  try {
    state.parsed.applyDelta(text);
  } catch {
    // Not where the delta starts (a new run, or a gap): reload the whole report.
    reloadLive();
    return;
  }
  const d = JSON.parse(text);
  const data = state.data;
  const n = data.series.t_ms.length;
  const added = d.t_ms.length;
  for (const t of d.t_ms) data.series.t_ms.push(t);
  for (const [name, col] of Object.entries(data.series)) {
    if (name === 't_ms') continue;
    const fresh = d.series[name];
    for (let i = 0; i < added; i++) col.push(fresh ? fresh[i] : null);
  }
  for (const [name, fresh] of Object.entries(d.series)) {
    if (data.series[name]) continue;
    data.series[name] = new Array(n).fill(null).concat(fresh);
  }
  dropBefore(data.series, d.series_from_ms);
  data.rollups = spliceRollups(data.rollups || [], d.rollups || []);
  if (!data.rollups.length) delete data.rollups;
  if (d.retention) data.retention = d.retention; else delete data.retention;
  for (const a of d.alerts) data.alerts.push(a);
  data.summaries = d.summaries;
  data.recommendations = d.recommendations;
  data.components = d.components;
  data.profile = d.profile;
  if (d.memory) data.memory = d.memory; else delete data.memory;
  data.meta.ended_at = d.ended_at;
  state.text = null;
  if (state.evaluation) {
    try {
      state.evaluation = { rules: state.evaluation.rules, ...state.parsed.evaluate(state.evaluation.rules) };
    } catch {
      state.evaluation = null;
    }
  }
  if (state.span) state.spanSummaries = state.parsed.spanSummaries(state.span.from, state.span.to);
  const ev = effective();
  renderMeta();
  renderCards();
  renderRecommendations(ev);
  refreshCharts();
  renderAlerts(ev);
  renderComponents();
  renderProfile();
  document.body.dataset.samples = String(data.series.t_ms.length);
}

/** Drops the samples before `from` (what the server dropped by retention), and the
 * columns left without a value: core's `Series::drop_before`. */
function dropBefore(series, from) {
  if (from == null) return;
  let n = 0;
  while (n < series.t_ms.length && series.t_ms[n] < from) n++;
  if (n === 0) return;
  for (const [name, col] of Object.entries(series)) {
    col.splice(0, n);
    if (name !== 't_ms' && col.every((v) => v == null)) delete series[name];
  }
}

const ROLLUP_FIELDS = ['count', 'min', 'max', 'mean', 'histogram'];

/** A delta's rollup rows replace the tier's rows from their first on; rows before
 * `keep_from_ms` go (core's `Rollup::splice`). */
function spliceRollups(tiers, deltas) {
  return deltas.map((d, i) => {
    const rows = d.rows;
    const tier = tiers[i] && tiers[i].step_ms === rows.step_ms
      ? tiers[i] : { step_ms: rows.step_ms, span_ms: rows.span_ms, t_ms: [], metrics: {} };
    let cut = tier.t_ms.length;
    if (rows.t_ms.length) {
      cut = 0;
      while (cut < tier.t_ms.length && tier.t_ms[cut] < rows.t_ms[0]) cut++;
    }
    const t = tier.t_ms.slice(0, cut).concat(rows.t_ms);
    const metrics = {};
    for (const name of new Set([...Object.keys(tier.metrics), ...Object.keys(rows.metrics)])) {
      const old = tier.metrics[name];
      const fresh = rows.metrics[name];
      const col = { scale: (fresh || old).scale };
      for (const f of ROLLUP_FIELDS) {
        const empty = f === 'count' ? 0 : f === 'histogram' ? [] : null;
        const head = old ? old[f].slice(0, cut) : new Array(cut).fill(empty);
        col[f] = head.concat(fresh ? fresh[f] : new Array(rows.t_ms.length).fill(empty));
      }
      metrics[name] = col;
    }
    let lo = 0;
    if (d.keep_from_ms != null) while (lo < t.length && t[lo] < d.keep_from_ms) lo++;
    for (const [name, col] of Object.entries(metrics)) {
      for (const f of ROLLUP_FIELDS) col[f] = col[f].slice(lo);
      if (col.count.every((c) => c === 0)) delete metrics[name];
    }
    return { step_ms: rows.step_ms, span_ms: rows.span_ms, t_ms: t.slice(lo), metrics };
  });
}

async function reloadLive() {
  closeStream();
  try {
    const text = await fetchText(LIVE_URL);
    showText(text, LIVE_URL, { sameSource: true });
  } catch (e) {
    setStreamStatus('down', `stream lost: ${errorText(e)}`);
  }
  setTimeout(openStream, 500);
}

function stopLive() {
  state.live = false;
  closeStream();
  $('#live').hidden = true;
  $('#stream-status').textContent = '';
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
  document.body.dataset.samples = hasReport ? String(state.data.series.t_ms.length) : '';
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
  if (state.span && !state.spanSummaries) {
    state.spanSummaries = state.parsed.spanSummaries(state.span.from, state.span.to);
  }
  renderMeta();
  renderCards();
  renderRecommendations(ev);
  renderCharts();
  renderZoombar();
  renderAlerts(ev);
  renderRulesEditor();
  renderComponents();
  renderProfile();
  renderCompare();
  for (const note of document.querySelectorAll('.eval-note')) note.hidden = !state.evaluation;
}

/** How the watched process ended: `exited with code 3 at 12.0 s`, `killed by signal 9 at …`. */
function targetExit(exit) {
  const how = exit.signal != null ? `killed by signal ${exit.signal}`
    : exit.code != null ? `exited with code ${exit.code}` : 'exited';
  return `${how} at ${fmtT(exit.at_ms)}`;
}

function renderMeta() {
  const { meta, series } = state.data;
  const target = meta.target
    ? h('p', { class: 'target' },
      h('span', { class: 'pill' }, `pid ${meta.target.pid}`),
      meta.target.command ? h('code', { class: 'command', title: meta.target.command }, meta.target.command) : null,
      meta.target.exit ? h('span', { class: 'pill exit' }, targetExit(meta.target.exit)) : null)
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
/** The summaries the cards show: core's for the zoomed span, else the whole run's. */
function currentSummaries() {
  return state.spanSummaries ?? state.data.summaries;
}

function statValue(metric, stat, extraClass) {
  const sum = currentSummaries()[metric];
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
  const sm = currentSummaries();
  const has = (m) => Boolean(sm[m]);
  const cards = [];

  cards.push(card('latency', 'Latency', ['latency_ms', 'latency_mean_ms', 'latency_p99_ms'], [
    row(figure('p95', 'latency_ms', 'p95', true), figure('p99', 'latency_ms', 'p99', true)),
    row(figure('p50', 'latency_ms', 'p50'), figure('mean', 'latency_ms', 'mean'), figure('max', 'latency_ms', 'max')),
    has('latency_ms') ? null : row(figure('interval p99, max', 'latency_p99_ms', 'max', true), figure('interval p99, p50', 'latency_p99_ms', 'p50', true)),
    has('latency_ms') ? null : row(figure('interval mean, mean', 'latency_mean_ms', 'mean')),
  ], has('latency_ms') ? 'All request latencies over the run' : 'Per-interval latency samples'));

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
// Charts (uPlot, vendored in vendor/: made for long time series, works offline)
//
// Every chart shares one cursor (uPlot's sync group) and one x span: dragging across any
// chart sets `state.span`, every chart zooms to it, and the cards are recomputed by core
// (`spanSummaries`) for exactly the samples in it. Charts are built when they scroll into
// view, so a day of samples at 1 s is interactive at once. The y range comes from the data
// only; a threshold outside it is drawn as an off-scale marker at the edge, never squeezing
// the data flat.

const PALETTE = ['#1f6feb', '#8250df', '#0f9d8a', '#d9480f', '#bf3989', '#2b8a3e', '#9a6700', '#1b7c9c'];
const GROUP_COLORS = {
  sys_cpu_pct: '#1f6feb', proc_cpu_pct: '#4c8df6', sys_load1: '#1b7c9c',
  sys_mem_pct: '#8250df', sys_mem_available_bytes: '#6639ba', proc_rss_bytes: '#a371f7', proc_virt_bytes: '#b392f0', proc_threads: '#6e7781',
  net_rx_bps: '#0f9d8a', net_tx_bps: '#2b8a3e', disk_read_bps: '#9a6700', disk_write_bps: '#bc4c00',
  throughput_rps: '#1a7f37', latency_mean_ms: '#d9480f', latency_p99_ms: '#cf222e',
  error_rate_pct: '#cf222e', cache_hit_rate_pct: '#0969da',
};
const SYNC_KEY = 'perfopt';

/** chart registry: metric -> {u: uPlot | null, el, name, observer} */
const charts = new Map();
let chartObserver = null;
/** x values (Unix seconds) of every sample, shared by every chart */
let xs = [];

/** What the charts draw: the full-resolution series, or a rollup tier (see tierOnScreen). */
let view = { label: null, tMs: [], columns: {} };

/** A rollup step: `1 min`, `1 h`. */
function stepLabel(ms) {
  return ms >= 3600000 ? `${ms / 3600000} h` : ms >= 60000 ? `${ms / 60000} min` : `${ms / 1000} s`;
}

// The tier to draw: the full-resolution series while it covers the whole run, else the
// finest rollup tier that reaches further back (at most 5000 rows; its per-step mean), so a
// month-long report shows the month rather than its last day.
function tierOnScreen(data) {
  const { series, rollups } = data;
  const t = series.t_ms;
  if (state.overview) {
    const step = t.length > 1 ? ` ${stepLabel(t[1] - t[0])}` : ' step';
    return { label: `Overview: the mean of each${step} while the full resolution loads…`, tMs: t, columns: series };
  }
  const full = { label: null, tMs: t, columns: series };
  if (!Array.isArray(rollups) || !rollups.length || !t.length || t[0] <= rollups[0].step_ms) return full;
  const reaching = rollups.filter((r) => r.t_ms.length && r.t_ms[0] < t[0]);
  if (!reaching.length) return full;
  const tier = reaching.find((r) => r.t_ms.length <= 5000) ?? reaching[reaching.length - 1];
  const columns = { t_ms: tier.t_ms };
  for (const [name, m] of Object.entries(tier.metrics)) columns[name] = m.mean;
  const step = stepLabel(tier.step_ms);
  return { label: `Whole run: ${step} rollup (mean of each step); the last ${fmtT(t[t.length - 1] - t[0])} are kept at full resolution.`, tMs: tier.t_ms, columns };
}

// A chart gets at most about M4_POINTS points per pixel column of the span on screen: the
// first, smallest, largest and last sample of each column (M4 aggregation), plus one null
// where the column has a gap. Drawn, that is the same picture as every sample (each column's
// vertical extent and its joins to the next are kept), at a fraction of the cost: a 24-hour
// report at 1 s has 86,400 samples a chart for ~600 columns.
const M4_POINTS = 4;

/** First index with xs[i] >= x. */
function lowerBound(arr, x) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The indexes (into `xs` and the view's columns) chart `c` draws for the x range on
 * screen: every sample of a short span, the M4 points of each pixel column of a long one;
 * one sample beyond each end so lines run to the edges. */
function plotIndexes(c, values) {
  const n = xs.length;
  if (!n) return [];
  const [lo, hi] = xRange();
  let a = 0;
  let b = n;
  if (state.span) {
    a = Math.max(0, lowerBound(xs, lo) - 1);
    b = Math.min(n, lowerBound(xs, hi) + 2);
  }
  const columns = Math.max(1, c.width || 560);
  const out = [];
  if (b - a <= M4_POINTS * columns || !(hi > lo)) {
    for (let i = a; i < b; i++) out.push(i);
    return out;
  }
  const scale = columns / (hi - lo);
  let bucket = null;
  let first = -1;
  let last = -1;
  let minI = -1;
  let maxI = -1;
  let nullI = -1;
  const flush = () => {
    if (first < 0) return;
    const picks = [first, minI, maxI, last, nullI].filter((i) => i >= 0).sort((x, y) => x - y);
    for (let k = 0; k < picks.length; k++) if (k === 0 || picks[k] !== picks[k - 1]) out.push(picks[k]);
  };
  for (let i = a; i < b; i++) {
    const k = Math.min(columns, Math.max(-1, Math.floor((xs[i] - lo) * scale)));
    if (k !== bucket) {
      flush();
      bucket = k;
      first = i;
      minI = -1;
      maxI = -1;
      nullI = -1;
    }
    last = i;
    const v = values[i];
    if (typeof v !== 'number') {
      if (nullI < 0) nullI = i;
    } else {
      if (minI < 0 || v < values[minI]) minI = i;
      if (maxI < 0 || v > values[maxI]) maxI = i;
    }
  }
  flush();
  return out;
}

/** The points chart `c` draws for the span on screen, as uPlot data; `c.idx` maps each
 * back to its sample. */
function plotData(c) {
  const values = view.columns[c.name];
  c.idx = plotIndexes(c, values);
  return [c.idx.map((i) => xs[i]), c.idx.map((i) => values[i])];
}

/** Gives chart `c` the points of the span on screen and sets its x scale to that span. */
function feedChart(c) {
  c.u.setData(plotData(c), false);
  applySpanTo(c.u);
}

function buildXs() {
  const t0 = state.data.meta.started_at;
  view = tierOnScreen(state.data);
  xs = view.tMs.map((t) => (t0 + t) / 1000);
}

function seriesNames() {
  const names = Object.keys(view.columns).filter((k) => k !== 't_ms');
  names.sort((a, b) => (METRIC_ORDER.get(a) ?? 1e6) - (METRIC_ORDER.get(b) ?? 1e6) || a.localeCompare(b));
  return names;
}

/** Rebuilds every chart (new report). */
function renderCharts() {
  for (const c of charts.values()) c.u?.destroy();
  charts.clear();
  chartObserver?.disconnect();
  buildXs();
  const names = seriesNames();
  if (!names.length) {
    $('#charts').replaceChildren(h('p', { class: 'none' }, 'This report has no time series.'));
    return;
  }
  chartObserver = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      const c = charts.get(e.target.dataset.series);
      if (c && !c.u) drawChart(c);
    }
  }, { rootMargin: '400px 0px' });
  const note = view.label ? [h('p', { class: 'none', id: 'tier-note' }, view.label)] : [];
  $('#charts').replaceChildren(...note, ...names.map((name, i) => chartFigure(name, i)));
}

/** Live update or rule change: new data and marks, same charts (and the same zoom). */
function refreshCharts() {
  buildXs();
  const names = seriesNames();
  if (names.some((n) => !charts.has(n)) || names.length !== charts.size) {
    renderCharts();
    return;
  }
  for (const c of charts.values()) {
    updateChartHead(c);
    if (c.u) feedChart(c);
  }
}

function chartFigure(name, index) {
  const info = metricInfo(name);
  const title = info ? info.help.replace(/, (percent|bytes|ms|MB).*$/, '') : name;
  const head = h('div', { class: 'chart-head' },
    h('div', null, h('h3', { class: 'chart-title' }, title), h('code', { class: 'chart-metric' }, name)),
    h('div', { class: 'chart-last', title: 'Last sample' }));
  const plot = h('div', { class: 'chart-plot', 'data-series': name, role: 'img' });
  const el = h('figure', { class: 'chart', 'data-series': name }, head, plot);
  const c = { name, index, el, plot, head, u: null, idx: null, width: 0 };
  charts.set(name, c);
  updateChartHead(c);
  chartObserver.observe(plot);
  return el;
}

function updateChartHead(c) {
  const values = view.columns[c.name];
  const unit = unitOf(c.name);
  let last = null;
  for (let i = values.length - 1; i >= 0; i--) {
    if (typeof values[i] === 'number') { last = values[i]; break; }
  }
  const box = c.head.querySelector('.chart-last');
  box.replaceChildren(...(last === null ? [] : [h('span', { class: 'muted' }, 'last '), fmt(last, unit)]));
  c.plot.setAttribute('aria-label', `${c.name}: ${values.length} samples${last === null ? '' : `, last ${fmt(last, unit)}`}`);
}

/** A y range from the data alone, padded, with 0 included for non-negative data. */
function yRange(u, min, max) {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  let lo = min >= 0 && min <= max * 0.5 ? 0 : min;
  let hi = max;
  if (hi <= lo) {
    const pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.1 : 1;
    lo -= pad;
    hi += pad;
    if (min >= 0) lo = Math.max(0, lo);
  }
  hi += (hi - lo) * 0.08;
  return [lo, hi];
}

function drawChart(c) {
  const name = c.name;
  const unit = unitOf(name);
  const color = GROUP_COLORS[name] ?? PALETTE[c.index % PALETTE.length];
  const width = Math.max(280, Math.floor(c.plot.clientWidth || 560));
  c.width = width;
  const opts = {
    width,
    height: 190,
    // Room on both sides for the date under the first and last time tick.
    padding: [8, 30, 0, 30],
    legend: { show: false },
    cursor: {
      sync: { key: SYNC_KEY },
      drag: { x: true, y: false, setScale: false },
      points: { size: 6 },
    },
    select: { show: true },
    scales: { x: { time: true }, y: { range: yRange } },
    axes: [
      { stroke: '#57606a', grid: { stroke: '#eaeef2' }, ticks: { stroke: '#d0d7de' } },
      {
        stroke: '#57606a',
        size: axisSize,
        incrs: unit === 'bytes' || unit === 'bytes_per_sec' ? BYTE_INCRS : undefined,
        grid: { stroke: '#eaeef2' },
        ticks: { stroke: '#d0d7de' },
        values: (u, splits) => axisLabels(splits, unit),
      },
    ],
    series: [
      { value: (u, v) => (v === null ? '-' : fmtClock(v * 1000)) },
      { label: name, stroke: color, width: 1.5, fill: `${color}1f`, points: { show: false }, value: (u, v) => fmt(v, unit) },
    ],
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 3) return;
        const a = u.posToVal(u.select.left, 'x');
        const b = u.posToVal(u.select.left + u.select.width, 'x');
        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        const t0 = state.data.meta.started_at;
        setSpan({ from: Math.max(0, Math.round(a * 1000 - t0)), to: Math.max(0, Math.round(b * 1000 - t0)) });
      }],
      drawClear: [(u) => drawFiring(u, name)],
      draw: [(u) => drawThresholds(u, name, unit)],
      setCursor: [(u) => showCursor(u, c, unit)],
    },
  };
  const started = performance.now();
  c.u = new uPlot(opts, plotData(c), c.plot);
  marks.chart_ms = (marks.chart_ms ?? 0) + (performance.now() - started);
  marks.charts = (marks.charts ?? 0) + 1;
  c.plot.addEventListener('dblclick', () => setSpan(null));
  applySpanTo(c.u);
}

/** Y tick labels in the metric's unit, with just enough decimals to tell ticks apart. */
function axisLabels(splits, unit) {
  if (!splits.length) return [];
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : Math.abs(splits[0]) || 1;
  const top = Math.max(...splits.map((v) => Math.abs(v)));
  const decimals = (x) => (x > 0 ? Math.min(3, Math.max(0, Math.ceil(-Math.log10(x) - 1e-9))) : 0);
  const fixed = (v, d) => (Object.is(v, -0) ? 0 : v).toFixed(d);
  if (unit === 'bytes' || unit === 'bytes_per_sec') {
    const names = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let k = 0;
    while (top / 1024 ** k >= 1024 && k < names.length - 1) k++;
    const base = 1024 ** k;
    const d = decimals(step / base);
    const suffix = unit === 'bytes_per_sec' ? '/s' : '';
    return splits.map((v) => `${fixed(v / base, d)} ${names[k]}${suffix}`);
  }
  if (unit === 'millis') {
    const [scale, name] = top < 1 ? [0.001, 'µs'] : top >= 10_000 ? [1000, 's'] : [1, 'ms'];
    const d = decimals(step / scale);
    return splits.map((v) => `${fixed(v / scale, d)} ${name}`);
  }
  if (unit === 'percent') {
    const d = decimals(step);
    return splits.map((v) => `${fixed(v, d)} %`);
  }
  const [div, name] = top >= 1e9 ? [1e9, ' G'] : top >= 1e6 ? [1e6, ' M'] : top >= 1e4 ? [1e3, ' k'] : [1, ''];
  const d = decimals(step / div);
  const suffix = unit === 'per_sec' ? '/s' : '';
  return splits.map((v) => `${fixed(v / div, d)}${name}${suffix}`);
}

/** Tick steps for byte axes: binary, so ticks fall on round KiB, MiB, GiB. */
const BYTE_INCRS = [0, 1, 2, 3, 4, 5].flatMap((k) => [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map((m) => m * 1024 ** k));

/** Room for the longest y label. */
function axisSize(u, values) {
  if (!values) return 60;
  return Math.max(48, Math.max(...values.map((v) => String(v).length)) * 7 + 20);
}

function showCursor(u, c, unit) {
  const at = u.cursor.idx;
  const box = c.head.querySelector('.chart-last');
  if (at === null || at === undefined) { updateChartHead(c); return; }
  const i = c.idx[at];
  const v = view.columns[c.name][i];
  box.replaceChildren(h('span', { class: 'muted' }, `${fmtClock(xs[i] * 1000, false)} · t = ${fmtT(view.tMs[i])} `),
    typeof v === 'number' ? fmt(v, unit) : 'no sample');
}

/** Shaded spans while a rule on this metric fired. */
function drawFiring(u, name) {
  const ev = effective();
  const t0 = state.data.meta.started_at;
  const tEnd = state.data.series.t_ms[state.data.series.t_ms.length - 1] ?? 0;
  const ctx = u.ctx;
  ctx.save();
  ctx.fillStyle = 'rgba(207, 34, 46, 0.08)';
  for (const r of ev.rules.filter((x) => x.metric === name)) {
    let from = null;
    const spans = [];
    for (const a of ev.alerts.filter((x) => x.rule === r.id)) {
      if (a.state === 'firing') from = a.at_ms;
      else if (from !== null && (a.state === 'resolved' || a.state === 'inactive')) { spans.push([from, a.at_ms]); from = null; }
    }
    if (from !== null) spans.push([from, tEnd]);
    for (const [a, b] of spans) {
      const x0 = u.valToPos((t0 + a) / 1000, 'x', true);
      const x1 = Math.max(u.valToPos((t0 + b) / 1000, 'x', true), x0 + 2);
      const left = Math.max(x0, u.bbox.left);
      const right = Math.min(x1, u.bbox.left + u.bbox.width);
      if (right > left) ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
    }
  }
  ctx.restore();
}

/** Threshold lines inside the y range; off-scale markers at the edge for the others. */
function drawThresholds(u, name, unit) {
  const ev = effective();
  const rules = ev.rules.filter((r) => r.metric === name);
  if (!rules.length) return;
  const ctx = u.ctx;
  const [lo, hi] = [u.scales.y.min, u.scales.y.max];
  const dpr = window.devicePixelRatio || 1;
  ctx.save();
  ctx.font = `${11 * dpr}px system-ui, sans-serif`;
  ctx.textAlign = 'right';
  let offTop = 0;
  let offBottom = 0;
  for (const r of rules) {
    const color = r.severity === 'critical' ? '#cf222e' : r.severity === 'warning' ? '#bf8700' : '#57606a';
    const label = `${r.id} ${cmpSymbol(r.comparison)} ${fmt(r.threshold, unit)}`;
    ctx.fillStyle = color;
    ctx.strokeStyle = color;
    const right = u.bbox.left + u.bbox.width - 4 * dpr;
    if (r.threshold >= lo && r.threshold <= hi) {
      const y = u.valToPos(r.threshold, 'y', true);
      ctx.setLineDash([5 * dpr, 4 * dpr]);
      ctx.lineWidth = dpr;
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillText(label, right, y - 4 * dpr > u.bbox.top + 10 * dpr ? y - 4 * dpr : y + 12 * dpr);
    } else if (r.threshold > hi) {
      ctx.fillText(`▲ ${label} (off scale)`, right, u.bbox.top + (12 + 13 * offTop++) * dpr);
    } else {
      ctx.fillText(`▼ ${label} (off scale)`, right, u.bbox.top + u.bbox.height - (4 + 13 * offBottom++) * dpr);
    }
  }
  ctx.restore();
}

// ---------------------------------------------------------------------------------------
// Zoom: one span for every chart and the cards

/** The x range on screen, Unix seconds: the zoomed span, else the whole view (null when it
 * is empty). */
function xRange() {
  if (state.span) {
    const t0 = state.data.meta.started_at;
    return [(t0 + state.span.from) / 1000, (t0 + state.span.to) / 1000];
  }
  return xs.length ? [xs[0], xs[xs.length - 1]] : null;
}

function applySpanTo(u) {
  const range = xRange();
  if (range) u.setScale('x', { min: range[0], max: range[1] });
}

/** Sets (or clears, with null) the zoomed span, in ms since the report start. */
function setSpan(span) {
  if (span && !(span.to > span.from)) span = null;
  // The overview holds one mean per rollup step, not the samples: the cards of a span wait
  // for the whole report (main() applies the last span asked for).
  if (state.overview) {
    state.pendingSpan = span;
    return;
  }
  state.span = span;
  const started = performance.now();
  state.spanSummaries = span ? state.parsed.spanSummaries(span.from, span.to) : null;
  state.lastZoomMs = performance.now() - started;
  for (const c of charts.values()) if (c.u) feedChart(c);
  renderCards();
  renderZoombar();
  saveUrlState();
}

function renderZoombar() {
  const span = state.span;
  $('#zoombar').hidden = !span;
  document.body.dataset.spanFrom = span ? String(span.from) : '';
  document.body.dataset.spanTo = span ? String(span.to) : '';
  if (!span) { $('#cards-span').textContent = ''; return; }
  const t0 = state.data.meta.started_at;
  const text = `Zoomed to t = ${fmtT(span.from)} – ${fmtT(span.to)} (${fmtClock(t0 + span.from)} – ${fmtClock(t0 + span.to, false)}, ${fmtDuration(span.to - span.from)}); the cards summarise these samples only.`;
  $('#zoom-text').textContent = text;
  $('#cards-span').textContent = `· ${fmtDuration(span.to - span.from)} from t = ${fmtT(span.from)}`;
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
  for (const c of charts.values()) c.u?.redraw(false);
  renderAlerts(ev);
  saveUrlState();
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
  saveUrlState();
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
// Components (cache, pool, limiter): their figures now, recognised by shape

function renderComponents() {
  const comps = state.data.components ?? {};
  const cards = [];
  for (const [name, c] of Object.entries(comps)) {
    if (!c || typeof c !== 'object') continue;
    const fig = (label, text, title) => h('div', { class: 'fig' }, h('span', { class: 'fig-label', title }, label), h('span', { class: 'value' }, text));
    const n = (v) => (typeof v === 'number' ? fmt(v, 'count') : '-');
    const ms = (v) => (typeof v === 'number' ? fmt(v, 'millis') : '-');
    const pct = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? fmt((a * 100) / b, 'percent') : '-');
    let rows = [];
    let title = name;
    if (c.l1 && c.l2 && 'hits' in c) {
      title = `Cache ${name}`;
      rows = [
        h('div', { class: 'fig-row' }, fig('hit rate', pct(c.hits, c.lookups), 'hits / lookups since the start'),
          fig('L1 hit rate', pct(c.l1.hits, c.l1.hits + c.l1.misses), 'L1 hits / L1 lookups'),
          fig('L2 hit rate', pct(c.l2.hits, c.l2.hits + c.l2.misses), 'L2 hits / lookups that reached L2')),
        h('div', { class: 'fig-row' }, fig('entries', `${n(c.len)} / ${n(c.capacity)}`), fig('L1 / L2', `${n(c.l1.len)} / ${n(c.l2.len)}`),
          fig('evictions', `${n(c.l1.evictions)} L1 · ${n(c.l2.evictions)} L2`)),
      ];
    } else if ('in_use' in c && 'idle' in c) {
      title = `Pool ${name}`;
      rows = [
        h('div', { class: 'fig-row' }, fig('in use', n(c.in_use)), fig('idle', n(c.idle)), fig('waiting', n(c.waiting)), fig('max', n(c.max_size))),
        h('div', { class: 'fig-row' }, fig('wait p99', ms(c.wait_ms?.p99), 'over the stats window'), fig('held p99', ms(c.held_ms?.p99), 'over the stats window'),
          fig('timed out', n(c.timed_out)), fig('created', n(c.created))),
      ];
    } else if ('in_flight' in c && 'limit' in c) {
      title = `Limiter ${name}`;
      rows = [
        h('div', { class: 'fig-row' }, fig('in flight', n(c.in_flight)), fig('queued', n(c.queued)), fig('limit', n(c.limit)), fig('algorithm', String(c.algorithm ?? '-'))),
        h('div', { class: 'fig-row' }, fig('rejected', n(c.rejected)), fig('timed out', n(c.timed_out)), fig('admitted', n(c.admitted)), fig('wait p99', ms(c.wait_ms?.p99))),
      ];
    } else {
      rows = [h('div', { class: 'fig-row' }, Object.entries(c).filter(([, v]) => typeof v === 'number').slice(0, 8).map(([k, v]) => fig(k, n(v))))];
    }
    cards.push(h('article', { class: 'card', 'data-component': name }, h('h3', null, title), rows));
  }
  $('#components-panel').hidden = cards.length === 0;
  $('#components').replaceChildren(...cards);
}

// ---------------------------------------------------------------------------------------
// Compare: the report on screen (before) against another (after), by core's compare

async function loadCompare(file) {
  await ready;
  if (!state.parsed) return;
  let parsed;
  try {
    parsed = ParsedReport.parse(await file.text());
  } catch (e) {
    showError(file.name, errorText(e));
    return;
  }
  state.compare?.parsed.free();
  state.compare = { parsed, data: parsed.data(), name: file.name };
  hideError();
  renderCompare();
  $('#compare-panel').scrollIntoView({ block: 'start' });
}

function renderCompare() {
  const cmp = state.compare;
  $('#compare-panel').hidden = !cmp;
  document.body.dataset.compare = cmp ? cmp.name : '';
  if (!cmp) return;
  const c = compareReports(state.parsed, cmp.parsed);
  const a = state.data.meta;
  const b = cmp.data.meta;
  const side = (label, name, m) => h('div', { class: 'compare-side' }, h('strong', null, label), ` ${name} · host ${m.host} · ${fmtClock(m.started_at)} · ${fmtDuration(m.ended_at - m.started_at)}`);
  const ruleList = (label, ids, cls) => h('p', { class: `compare-rules ${cls}` }, h('strong', null, label), ids.length ? ids.map((id) => h('code', { 'data-rule': id }, id)) : h('span', { class: 'muted' }, 'none'));
  const pct = (p) => (typeof p === 'number' ? `${p > 0 ? '+' : ''}${p.toFixed(1)} %` : '');
  const shown = c.figures.filter((f) => f.before !== null || f.after !== null);
  $('#compare').replaceChildren(
    side('Before:', state.source, a), side('After:', cmp.name, b),
    ruleList('Fired only before: ', c.fired_only_before, 'only-before'),
    ruleList('Fired only after: ', c.fired_only_after, 'only-after'),
    ruleList('Fired in both: ', c.fired_in_both, 'both'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table compare-table' },
      h('thead', null, h('tr', null, ['Metric', 'Stat', 'Before', 'After', 'Difference', 'Change'].map((t, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : null }, t)))),
      h('tbody', null, shown.map((f) => {
        const unit = f.stat === 'count' ? 'count' : f.stat === 'rate_per_s' ? 'per_sec' : f.unit;
        return h('tr', { class: `verdict-${f.verdict}`, 'data-cmp-metric': f.metric, 'data-cmp-stat': f.stat, 'data-verdict': f.verdict },
          h('td', null, h('code', null, f.metric)), h('td', null, STAT_LABELS[f.stat] ?? f.stat),
          h('td', { class: 'num' }, fmt(f.before, unit)), h('td', { class: 'num' }, fmt(f.after, unit)),
          h('td', { class: 'num' }, typeof f.delta === 'number' ? `${f.delta > 0 ? '+' : ''}${fmt(f.delta, unit)}` : '-'),
          h('td', { class: 'num' }, pct(f.change_pct)));
      })))));
}

// ---------------------------------------------------------------------------------------
// Shareable view state in the URL: ?src=…&from=…&to=…&rules=id:threshold:clear:for_ms;…

function saveUrlState() {
  if (embedded || !state.data) return;
  const params = new URLSearchParams(location.search);
  if (state.span) {
    params.set('from', String(state.span.from));
    params.set('to', String(state.span.to));
  } else {
    params.delete('from');
    params.delete('to');
  }
  const edits = [];
  if (state.evaluation) {
    const orig = new Map(state.data.rules.map((r) => [r.id, r]));
    for (const r of state.evaluation.rules) {
      const o = orig.get(r.id);
      if (o && (o.threshold !== r.threshold || o.clear_threshold !== r.clear_threshold || o.for_ms !== r.for_ms)) {
        edits.push(`${r.id}:${r.threshold}:${r.clear_threshold}:${r.for_ms}`);
      }
    }
  }
  if (edits.length) params.set('rules', edits.join(';'));
  else params.delete('rules');
  const q = params.toString();
  history.replaceState(null, '', q ? `?${q}` : location.pathname);
}

function restoreUrlState(params) {
  if (!state.data) return;
  const rules = params.get('rules');
  if (rules) {
    for (const part of rules.split(';')) {
      const [id, threshold, clear, forMs] = part.split(':');
      const set = (field, v) => {
        const el = document.querySelector(`#rules-table input[data-rule="${CSS.escape(id)}"][data-field="${field}"]`);
        if (el && v !== undefined && v !== '') el.value = field === 'for_ms' ? String(Number(v) / 1000) : v;
      };
      set('threshold', threshold);
      set('clear_threshold', clear);
      set('for_ms', forMs);
    }
    $('#rules').requestSubmit();
  }
  const from = Number(params.get('from'));
  const to = Number(params.get('to'));
  if (params.has('from') && params.has('to') && to > from) setSpan({ from, to });
}

// ---------------------------------------------------------------------------------------
// Wiring

function setupUi() {
  allMetrics().forEach((m, i) => METRIC_ORDER.set(m.name, i));
  $('#viewer-version').textContent = toolVersion();
  $('#file').addEventListener('change', (e) => {
    const files = [...(e.target.files ?? [])];
    if (files.length) loadFiles(files);
    e.target.value = '';
  });
  $('#compare-file').addEventListener('change', (e) => {
    const file = e.target.files?.[0];
    if (file) loadCompare(file);
    e.target.value = '';
  });
  $('#compare-close').addEventListener('click', () => {
    state.compare?.parsed.free();
    state.compare = null;
    renderCompare();
  });
  $('#zoom-reset').addEventListener('click', () => setSpan(null));
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
    loadFiles([...e.dataTransfer.files]);
  });
}

async function main() {
  setupDrop();
  // The report downloads while the WebAssembly module compiles.
  const params = new URLSearchParams(location.search);
  const src = embedded ? null : params.get('src') || null; // `?src=` alone: live mode
  // perfopt's own server sends an overview first (one mean per rollup step), then the whole
  // report loads behind it.
  const url = src ?? LIVE_URL;
  const prefetched = embedded ? null : fetchReport(overviewUrl(url) ?? url).then((r) => {
    mark('fetched');
    return r;
  });
  prefetched?.catch(() => {}); // its error is shown by loadUrl, after the module loads
  try {
    await ready;
    mark('wasm_ready');
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
  if (src) await loadUrl(src, prefetched);
  else await startLive(prefetched);
  const overview = state.overview;
  if (!overview) restoreUrlState(params);
  mark('url_state');
  await visibleChartsDrawn();
  window.perfoptViewer.readyMs = performance.now();
  window.perfoptViewer.firstMarks = { ...marks };
  window.perfoptViewer.firstView = {
    overview,
    samples: state.data?.series.t_ms.length ?? 0,
    note: $('#tier-note')?.textContent ?? null,
  };
  if (!overview) return;
  const full = await loadFull();
  // A zoom asked for while the overview was on screen, else the one in the URL.
  if (full && state.pendingSpan !== undefined) setSpan(state.pendingSpan);
  else if (full) restoreUrlState(params);
  delete state.pendingSpan;
  mark('full');
  await visibleChartsDrawn();
  window.perfoptViewer.fullMs = performance.now();
}

/** Resolves once every chart in the viewport is drawn (bounded: 60 frames). */
async function visibleChartsDrawn() {
  for (let frame = 0; frame < 60; frame++) {
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    const pending = [...charts.values()].some((c) => {
      if (c.u) return false;
      const r = c.plot.getBoundingClientRect();
      return r.bottom > 0 && r.top < window.innerHeight;
    });
    if (!pending) return;
  }
}

/** Timings for the browser benchmark (tests/benches or BENCHMARKS.md). */
window.perfoptViewer = {
  readyMs: null,
  /** When the whole report was on screen after an overview (null: no overview). */
  fullMs: null,
  /** What the first view drew: `{overview, samples, note}`. */
  firstView: null,
  marks,
  /** Zooms to `[from, to]` ms and returns how long core's recomputation took, ms. */
  zoom(from, to) {
    setSpan({ from, to });
    return state.lastZoomMs;
  },
  wasmMemoryBytes: () => wasmMemory?.buffer.byteLength ?? null,
  /** What chart `name` draws now (x in Unix s, y) and its width in pixels. */
  plotted(name) {
    const c = charts.get(name);
    return c?.u ? { xs: Array.from(c.u.data[0]), ys: Array.from(c.u.data[1]), width: c.width } : null;
  },
  /** The sample times on screen (tests check for gaps). */
  tMs: () => state.data?.series.t_ms ?? [],
  /** Drops the live stream for `ms` (as a network failure would), then reconnects from
   * the report on screen. */
  dropStream(ms = 1500) {
    closeStream();
    setStreamStatus('down', 'stream lost: reconnecting…');
    setTimeout(() => {
      openStream();
    }, ms);
  },
};

main();
