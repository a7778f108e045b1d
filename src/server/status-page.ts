/**
 * The human view of /status, served at `/`: one self-contained HTML document (inline CSS and JS,
 * no fonts, images or CDNs, because probes often run where nothing external is reachable). The
 * page polls `status` (a relative URL, so it works behind a path-prefix proxy) and renders legs,
 * a drop timeline and the verdict.
 *
 * Everything from /status is untrusted text (leg names, error messages, WebSocket close reasons
 * chosen by the far end): the script only ever uses textContent, setAttribute and createElement,
 * never innerHTML. The CSP carries sha256 hashes of the inline script and style, computed here at
 * module load, so not even an injected inline script could run.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_BURST_MS, DEFAULT_WINDOW_MS, type VerdictKind } from '../attribution/verdict.js';

type Tone = 'ok' | 'bad' | 'warn' | 'none';

/** A Record over VerdictKind: a new verdict without a label here fails to compile. */
const VERDICT_LABELS: Readonly<Record<VerdictKind, { readonly label: string; readonly tone: Tone }>> = {
  public_dns: { label: 'Public DNS (DoH)', tone: 'bad' },
  cdn_edge_or_wan: { label: 'CDN edge, tunnel or WAN', tone: 'bad' },
  traefik_dispatch_or_host: { label: 'Traefik, dispatch or host', tone: 'bad' },
  internal_path: { label: 'Internal path', tone: 'bad' },
  serve_process: { label: 'Serve process', tone: 'bad' },
  idle_expiry: { label: 'Idle expiry (middlebox)', tone: 'warn' },
  idle_far_end: { label: 'Idle leg far end gone', tone: 'bad' },
  exonerated: { label: 'Infra exonerated', tone: 'ok' },
  no_data: { label: 'No data', tone: 'none' },
};

/** How the page polls: every 2 s, backing off to 10 s while the probe does not answer. */
const CLIENT_CONFIG = {
  pollMs: 2_000,
  maxBackoffMs: 10_000,
  requestTimeoutMs: 5_000,
  sparkSamples: 60,
  /** The timeline shows this much history, or less while the probe is younger, or more to reach the oldest drop. */
  timelineMs: 10 * 60_000,
  minTimelineMs: 60_000,
  /** The verdict in /status looks at now ± this (clamped to now); drops this close are one burst. */
  windowMs: DEFAULT_WINDOW_MS,
  burstMs: DEFAULT_BURST_MS,
  verdicts: VERDICT_LABELS,
};

const STYLE = `
:root {
  --bg: #0b0e13; --panel: #141922; --panel-2: #1b212c; --line: #2a3240; --text: #e8edf4; --muted: #a3adbb;
  --ok: #3fb950; --bad: #ff6b61; --warn: #e3b341; --none: #8b95a3; --accent: #79b8ff;
  --ok-bg: #12261a; --bad-bg: #2d1517; --warn-bg: #2b2412;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  color-scheme: dark;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--text); }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; padding: 12px 16px 24px; }
h2 { font-size: 12px; font-weight: 600; letter-spacing: .08em; text-transform: uppercase; color: var(--muted); margin: 0 0 8px; }
h2 .sub { text-transform: none; letter-spacing: 0; font-weight: 400; margin-left: 8px; }
.mono { font-family: var(--mono); }
.muted { color: var(--muted); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 20px; padding-bottom: 10px; border-bottom: 1px solid var(--line); margin-bottom: 12px; }
.brand { font-weight: 700; font-size: 16px; }
#summary { font-weight: 600; }
#summary .n-down { color: var(--bad); }
#summary .n-up { color: var(--ok); }
#summary .n-other { color: var(--warn); }
#conn { font-family: var(--mono); font-size: 13px; color: var(--muted); }
#conn[data-conn="stale"] { color: var(--warn); }
#conn[data-conn="down"] { color: var(--bad); font-weight: 700; }
body.stale #summary { opacity: .5; }
body.stale #summary::before { content: "last known: "; font-weight: 400; color: var(--muted); }
#meta { margin-left: auto; color: var(--muted); font-size: 13px; }
#banner { background: var(--bad-bg); border: 1px solid var(--bad); color: var(--text); padding: 10px 14px; border-radius: 6px; margin-bottom: 12px; font-size: 15px; }
#banner strong { color: var(--bad); }
body.stale main { opacity: .45; filter: grayscale(.7); }
main { display: grid; gap: 14px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }

#verdict { border-left: 6px solid var(--none); }
#verdict.tone-ok { border-left-color: var(--ok); }
#verdict.tone-bad { border-left-color: var(--bad); background: linear-gradient(90deg, var(--bad-bg), var(--panel) 45%); }
#verdict.tone-warn { border-left-color: var(--warn); background: linear-gradient(90deg, var(--warn-bg), var(--panel) 45%); }
.v-top { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 14px; }
.v-title { font-size: 26px; font-weight: 700; line-height: 1.15; }
.tone-ok .v-title { color: var(--ok); }
.tone-bad .v-title { color: var(--bad); }
.tone-warn .v-title { color: var(--warn); }
.v-kind { font-family: var(--mono); color: var(--muted); font-size: 13px; }
.v-segment { font-size: 16px; margin-top: 4px; }
.v-summary { margin: 6px 0 0; color: var(--text); max-width: 120ch; }
.v-legs { margin-top: 6px; font-size: 13px; color: var(--muted); }
.v-legs b { color: var(--text); font-weight: 600; }
#bursts { list-style: none; margin: 10px 0 0; padding: 0; display: grid; gap: 3px; }
#bursts:empty { display: none; }
#bursts li { font-family: var(--mono); font-size: 12.5px; background: var(--panel-2); border-radius: 4px; padding: 3px 8px; display: flex; flex-wrap: wrap; gap: 0 12px; }
#bursts .b-time { color: var(--text); }
#bursts .b-legs { color: var(--bad); }
#bursts .b-verdict { color: var(--muted); }

#legs { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 10px; }
#legs:empty::before { content: "waiting for the first /status answer\\2026"; color: var(--muted); }
.card { background: var(--panel); border: 1px solid var(--line); border-left: 6px solid var(--none); border-radius: 8px; padding: 10px 12px; display: grid; gap: 6px; align-content: start; min-width: 0; }
.card[data-state="up"] { border-left-color: var(--ok); }
.card[data-state="down"] { border-left-color: var(--bad); background: var(--bad-bg); border-color: #5c2a2c; }
.card[data-state="connecting"] { border-left-color: var(--warn); }
.c-head { display: flex; justify-content: space-between; gap: 10px; align-items: flex-start; }
.c-name { font-family: var(--mono); font-size: 17px; font-weight: 700; overflow-wrap: anywhere; }
.c-meta { color: var(--muted); font-size: 12.5px; font-family: var(--mono); overflow-wrap: anywhere; }
.c-state { text-align: right; white-space: nowrap; }
.badge { display: inline-block; font-weight: 800; font-size: 13px; letter-spacing: .06em; padding: 2px 8px; border-radius: 4px; border: 1px solid currentColor; }
.card[data-state="up"] .badge { color: var(--ok); }
.card[data-state="down"] .badge { color: #fff; background: #c7322b; border-color: #c7322b; }
.card[data-state="connecting"] .badge { color: var(--warn); }
.card[data-state="closed"] .badge { color: var(--none); }
.c-since { color: var(--muted); font-size: 12px; font-family: var(--mono); margin-top: 2px; }
.c-rtt { display: grid; grid-template-columns: auto 1fr; gap: 10px; align-items: center; }
.c-rtt-val { font-family: var(--mono); font-size: 22px; font-weight: 600; line-height: 1; white-space: nowrap; }
.c-rtt-label { display: block; color: var(--muted); font-size: 11px; font-family: system-ui, sans-serif; font-weight: 400; margin-top: 3px; }
.spark-box { position: relative; min-width: 0; }
.spark { display: block; width: 100%; height: 34px; background: var(--panel-2); border-radius: 4px; }
.spark .line { fill: none; stroke: var(--accent); stroke-width: 1.5; stroke-linejoin: round; stroke-linecap: round; }
.spark .gap { fill: var(--bad); }
.spark-scale { position: absolute; top: 2px; left: 4px; padding: 0 3px; border-radius: 3px; background: rgba(27, 33, 44, .85); font: 10.5px var(--mono); color: var(--muted); }
.c-facts { display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 12.5px; color: var(--muted); }
.c-facts b { color: var(--text); font-family: var(--mono); font-weight: 600; }
.c-idle { border-top: 1px dashed var(--line); padding-top: 5px; }
.c-idle[hidden] { display: none; }
.c-err { border-radius: 4px; padding: 5px 8px; background: #3a1719; border: 1px solid #7a2f31; font-size: 13px; }
.c-err .lbl { color: var(--bad); font-weight: 700; }
.c-drop { font-size: 12.5px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 5px; }
.c-drop .lbl { color: var(--text); }
.c-drop .code { display: block; margin-top: 2px; }
.reason { font-family: var(--mono); font-weight: 700; color: var(--bad); }
.code { font-family: var(--mono); color: var(--text); overflow-wrap: anywhere; }
.msg { display: block; font-family: var(--mono); color: var(--text); overflow-wrap: anywhere; margin-top: 2px; }

#timeline { position: relative; --label-w: 150px; padding-top: 16px; }
.tl-row { display: flex; align-items: stretch; height: 26px; border-bottom: 1px solid var(--line); }
.tl-row:first-child { border-top: 1px solid var(--line); }
.tl-label { flex: 0 0 var(--label-w); padding-right: 10px; font-family: var(--mono); font-size: 13px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; align-self: center; }
.tl-label.down { color: var(--bad); font-weight: 700; }
.tl-track { position: relative; flex: 1 1 auto; min-width: 0; }
.tl-overlay { position: absolute; left: var(--label-w); right: 0; top: 16px; bottom: 22px; pointer-events: none; }
.tl-window { position: absolute; top: 0; bottom: 0; background: rgba(121, 184, 255, .06); border-left: 1px dashed rgba(121, 184, 255, .45); }
.tl-window span { position: absolute; top: -16px; left: 4px; font-size: 11px; color: var(--accent); white-space: nowrap; }
.tl-nodata { position: absolute; top: 0; bottom: 0; background: repeating-linear-gradient(45deg, rgba(139, 149, 163, .10) 0 6px, transparent 6px 12px); border-right: 1px solid var(--line); }
.tl-nodata span { position: absolute; top: 50%; left: 50%; transform: translate(-50%, -50%); font-size: 11px; color: var(--muted); white-space: nowrap; }
.tl-burst { position: absolute; top: 0; bottom: 0; min-width: 9px; transform: translateX(-4px); background: rgba(255, 107, 97, .16); border-left: 1px solid rgba(255, 107, 97, .6); border-right: 1px solid rgba(255, 107, 97, .6); }
.mark { position: absolute; top: 3px; bottom: 3px; width: 4px; margin-left: -2px; background: var(--bad); border-radius: 1px; z-index: 2; }
.mark:hover { outline: 2px solid var(--text); }
.downbar { position: absolute; top: 8px; bottom: 8px; background: repeating-linear-gradient(135deg, rgba(255, 107, 97, .55) 0 4px, rgba(255, 107, 97, .2) 4px 8px); z-index: 1; }
.downbar.connecting { background: rgba(227, 179, 65, .35); }
.tl-axis { display: flex; height: 22px; }
.tl-axis .tl-track { font: 11px var(--mono); color: var(--muted); }
.tick { position: absolute; top: 4px; transform: translateX(-50%); white-space: nowrap; }
.tick.now { transform: translateX(-100%); color: var(--text); }
.tl-legend { margin-top: 8px; font-size: 12px; color: var(--muted); display: flex; flex-wrap: wrap; gap: 4px 16px; }
.sw { display: inline-block; width: 10px; height: 10px; vertical-align: -1px; margin-right: 5px; border-radius: 1px; }
.sw.mark-sw { width: 4px; background: var(--bad); }
.sw.burst-sw { background: rgba(255, 107, 97, .3); }
.sw.down-sw { background: repeating-linear-gradient(135deg, rgba(255, 107, 97, .7) 0 3px, rgba(255, 107, 97, .25) 3px 6px); }
.sw.win-sw { background: rgba(121, 184, 255, .2); border-left: 1px dashed var(--accent); }
`;

// Plain ES2020 that runs in the browser as is: it is not compiled, so no `${` or backticks here.
const SCRIPT = String.raw`
'use strict';
(function () {
  var C = JSON.parse(document.getElementById('config').textContent);
  var STATE_TEXT = { up: '\u25CF UP', down: '\u2715 DOWN', connecting: '\u25CC CONNECTING', closed: '\u25A0 CLOSED' };
  var SVG_NS = 'http://www.w3.org/2000/svg';

  var timer = null;
  var inFlight = false;
  var failures = 0;
  var failingSince = null;
  var lastError = '';
  var lastOkAt = null;
  var skewMs = 0;
  var last = null;
  var history = new Map();
  var keyed = new WeakMap();

  // ---- small DOM helpers: text only, never markup --------------------------------------------
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function setText(node, text) {
    var s = text === undefined || text === null ? '' : String(text);
    if (node.textContent !== s) node.textContent = s;
  }
  function setAttr(node, name, value) {
    var s = String(value);
    if (node.getAttribute(name) !== s) node.setAttribute(name, s);
  }
  function str(v) { return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v); }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }
  function arr(v) { return Array.isArray(v) ? v : []; }
  function own(map, key) { return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : undefined; }
  function verdictInfo(kind) { return own(C.verdicts, kind) || { label: kind, tone: 'none' }; }

  /** Keep one child per key across renders, so hover tooltips and selections survive a poll. */
  function reconcile(container, items, key, create, update) {
    var map = keyed.get(container);
    if (!map) { map = new Map(); keyed.set(container, map); }
    var seen = new Set();
    var prev = null;
    items.forEach(function (item, i) {
      var k = key(item, i);
      if (seen.has(k)) return;
      seen.add(k);
      var node = map.get(k);
      if (!node) { node = create(item); map.set(k, node); }
      update(node, item);
      var want = prev ? prev.nextSibling : container.firstChild;
      if (want !== node) container.insertBefore(node, want);
      prev = node;
    });
    map.forEach(function (node, k) {
      if (!seen.has(k)) { node.remove(); map.delete(k); }
    });
  }

  // ---- formatting ------------------------------------------------------------------------------
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
  }
  function clockShort(ms) { var d = new Date(ms); return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()); }
  function iso(ms) { return new Date(ms).toISOString(); }
  function dur(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + pad(s % 60) + 's';
    var h = Math.floor(m / 60);
    if (h < 48) return h + 'h ' + pad(m % 60) + 'm';
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }
  /** A configured length as written in config: 2m, 3s, 500ms. */
  function len(ms) {
    if (ms >= 60e3 && ms % 60e3 === 0) return ms / 60e3 + 'm';
    if (ms >= 1e3 && ms % 1e3 === 0) return ms / 1e3 + 's';
    return ms >= 1e3 ? dur(ms) : Math.round(ms) + 'ms';
  }
  function rtt(seconds) {
    var s = num(seconds);
    if (s === null) return '\u2014';
    var ms = s * 1000;
    if (ms < 1) return ms.toFixed(2) + ' ms';
    if (ms < 100) return ms.toFixed(1) + ' ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function serverNow() { return Date.now() + skewMs; }
  function list(items) { return items.length === 0 ? 'none' : items.join(', '); }

  // ---- polling: one request at a time, back off on errors, pause while hidden --------------------
  function schedule(ms) {
    clearTimeout(timer);
    timer = null;
    if (!document.hidden) timer = setTimeout(poll, ms);
  }

  function poll() {
    timer = null;
    if (inFlight || document.hidden) return;
    inFlight = true;
    var controller = new AbortController();
    var deadline = setTimeout(function () { controller.abort(); }, C.requestTimeoutMs);
    fetch('status', { cache: 'no-store', headers: { accept: 'application/json' }, signal: controller.signal })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status + ' from status');
        return res.json();
      })
      .then(function (data) {
        failures = 0;
        failingSince = null;
        lastOkAt = Date.now();
        try {
          render(data);
        } catch (err) {
          lastError = 'cannot render /status: ' + str(err && err.message);
          failures = 1;
          failingSince = Date.now();
        }
      }, function (err) {
        failures++;
        if (failingSince === null) failingSince = Date.now();
        lastError = controller.signal.aborted ? 'no answer within ' + C.requestTimeoutMs / 1000 + ' s' : str(err && err.message) || 'request failed';
      })
      .then(function () {
        clearTimeout(deadline);
        inFlight = false;
        renderConnection();
        schedule(failures === 0 ? C.pollMs : Math.min(C.maxBackoffMs, C.pollMs * Math.pow(2, failures)));
      });
  }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) { clearTimeout(timer); timer = null; } else if (!inFlight) poll();
  });
  setInterval(function () { if (!document.hidden) renderConnection(); }, 1000);

  // ---- rendering -------------------------------------------------------------------------------
  function render(s) {
    var verdict = s && typeof s.verdict === 'object' && s.verdict !== null ? s.verdict : {};
    var at = num(verdict.at);
    // Draw everything on the probe's clock: verdict.at is its "now" when it answered.
    skewMs = at === null ? 0 : at - Date.now();
    var now = serverNow();
    var legs = arr(s.legs).filter(function (l) { return l && typeof l === 'object'; });
    var drops = arr(s.recentDrops).filter(function (d) { return d && typeof d === 'object' && num(d.at) !== null; });
    last = { startedAt: str(s.startedAt), uptime: num(s.uptimeSeconds), legs: legs, verdict: verdict };
    recordSamples(legs, now);
    renderVerdict(verdict);
    renderLegs(legs, now);
    renderTimeline(legs, drops, verdict, now, Date.parse(str(s.startedAt)));
    renderHeader(legs);
  }

  function recordSamples(legs, now) {
    var names = new Set();
    legs.forEach(function (leg) {
      var name = str(leg.name);
      names.add(name);
      // A leg seen for the first time starts from the probe's own RTT history, not from empty.
      var samples = history.get(name) || seedSamples(leg);
      samples.push({ t: now, v: leg.state === 'up' ? num(leg.lastRttSeconds) : null, down: leg.state !== 'up' });
      while (samples.length > C.sparkSamples) samples.shift();
      history.set(name, samples);
    });
    history.forEach(function (_v, name) { if (!names.has(name)) history.delete(name); });
  }

  function seedSamples(leg) {
    return arr(leg.rttHistory).filter(function (p) { return Array.isArray(p) && num(p[0]) !== null && num(p[1]) !== null; })
      .slice(-(C.sparkSamples - 1))
      .map(function (p) { return { t: p[0], v: p[1], down: false }; });
  }

  function renderHeader(legs) {
    var counts = { up: 0, down: 0, other: 0 };
    legs.forEach(function (l) { if (l.state === 'up') counts.up++; else if (l.state === 'down') counts.down++; else counts.other++; });
    var summary = $('summary');
    summary.textContent = '';
    if (counts.down > 0) summary.append(el('span', 'n-down', '\u2715 ' + counts.down + ' down'), ' \u00B7 ');
    if (counts.other > 0) summary.append(el('span', 'n-other', counts.other + ' connecting/closed'), ' \u00B7 ');
    summary.append(el('span', 'n-up', counts.up + '/' + legs.length + ' up'));
    document.title = (counts.down > 0 ? '\u2715 ' + counts.down + ' down' : '\u25CF all up') + ' \u00B7 ' + verdictInfo(str(last.verdict.verdict)).label + ' \u00B7 t3-probe';
    var meta = 'up ' + dur((last.uptime || 0) * 1000);
    var started = Date.parse(last.startedAt);
    if (isFinite(started)) meta += ' (since ' + iso(started).replace('T', ' ').replace(/\.\d+Z$/, 'Z') + ')';
    setText($('meta'), meta + ' \u00B7 times UTC');
  }

  function renderConnection() {
    var conn = $('conn');
    var banner = $('banner');
    var stale = failingSince !== null;
    document.body.classList.toggle('stale', stale);
    if (stale) {
      document.title = '\u26A0 UNREACHABLE \u00B7 t3-probe';
      setAttr(conn, 'data-conn', 'down');
      setText(conn, 'UNREACHABLE');
      banner.hidden = false;
      banner.textContent = '';
      banner.append(
        el('strong', null, 'Probe unreachable since ' + clock(failingSince) + ' UTC (' + dur(Date.now() - failingSince) + ')'),
        ': ' + lastError + '. ',
        lastOkAt === null ? 'No data yet.' : 'Below is stale data from ' + clock(lastOkAt) + ' UTC, not the current state.',
        ' Retrying every ' + Math.min(C.maxBackoffMs, C.pollMs * Math.pow(2, failures)) / 1000 + ' s.'
      );
      return;
    }
    banner.hidden = true;
    if (lastOkAt === null) { setAttr(conn, 'data-conn', 'stale'); setText(conn, 'loading\u2026'); return; }
    var age = Date.now() - lastOkAt;
    setAttr(conn, 'data-conn', age > C.pollMs * 3 ? 'stale' : 'ok');
    setText(conn, 'updated ' + dur(age) + ' ago');
  }

  function renderVerdict(v) {
    var box = $('verdict');
    var kind = str(v.verdict) || 'no_data';
    var info = verdictInfo(kind);
    setAttr(box, 'data-verdict', kind);
    box.className = 'panel tone-' + info.tone;
    setText($('v-title'), info.label);
    setText($('v-kind'), kind);
    setText($('v-segment'), 'Segment: ' + str(v.segment));
    setText($('v-summary'), str(v.summary));
    var legs = $('v-legs');
    legs.textContent = '';
    legs.append('dropped: ', el('b', null, list(arr(v.droppedLegs).map(str))), '  \u00B7  clean: ', el('b', null, list(arr(v.cleanLegs).map(str))));
    var win = v.window && typeof v.window === 'object' ? v.window : {};
    var from = num(win.from);
    var to = num(win.to);
    if (from !== null && to !== null) {
      // What the window is: now ± W, cut off at now; and how much of it the probe observed.
      var cov = v.coverage && typeof v.coverage === 'object' ? num(v.coverage.fraction) : null;
      var label = '\u00B1' + len(num(v.windowMs) || C.windowMs) + (v.clampedToNow === true ? ', clamped to now' : '') + ': ' + clock(from) + '\u2013' + clock(to) + ' UTC';
      if (cov !== null && cov < 1) label += ' \u00B7 ' + (cov > 0 && cov < 0.01 ? 'under 1' : Math.floor(cov * 100)) + '% observed (partial)';
      var winEl = el('span', 'v-window', label);
      legs.append('  \u00B7  window ', winEl);
    }
    var bursts = arr(v.bursts).filter(function (b) { return b && num(b.from) !== null; }).slice().reverse();
    reconcile($('bursts'), bursts, function (b) { return num(b.from) + '|' + num(b.to) + '|' + arr(b.legs).join(','); }, function () {
      var li = el('li');
      li.append(el('span', 'b-time'), el('span', 'b-legs'), el('span', 'b-drops'), el('span', 'b-verdict'));
      return li;
    }, function (li, b) {
      var span = (num(b.to) || 0) - num(b.from);
      var legsOf = arr(b.legs).map(str);
      setText(li.children[0], clock(num(b.from)) + (span > 0 ? ' +' + span + ' ms' : ''));
      setText(li.children[1], legsOf.length + (legsOf.length === 1 ? ' leg: ' : ' legs together: ') + legsOf.join(', '));
      setText(li.children[2], arr(b.drops).map(function (d) { return str(d.leg) + ' ' + str(d.reason); }).join(', '));
      setText(li.children[3], '\u2192 ' + verdictInfo(str(b.verdict)).label);
    });
  }

  function renderLegs(legs, now) {
    reconcile($('legs'), legs, function (l) { return str(l.name); }, createCard, function (card, leg) { updateCard(card, leg, now); });
  }

  function createCard(leg) {
    var card = el('section', 'card');
    setAttr(card, 'data-leg', str(leg.name));
    var head = el('div', 'c-head');
    var id = el('div');
    id.append(el('div', 'c-name', str(leg.name)), el('div', 'c-meta'));
    var state = el('div', 'c-state');
    state.append(el('span', 'badge'), el('div', 'c-since'));
    head.append(id, state);
    var rttRow = el('div', 'c-rtt');
    var val = el('div', 'c-rtt-val');
    val.append(el('span', 'v'), el('span', 'c-rtt-label', 'last RTT'));
    var box = el('div', 'spark-box');
    var svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 120 34');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    box.append(svg, el('span', 'spark-scale'));
    rttRow.append(val, box);
    var facts = el('div', 'c-facts');
    var err = el('div', 'c-err');
    var drop = el('div', 'c-drop');
    var idle = el('div', 'c-facts c-idle');
    idle.hidden = true;
    card.append(head, rttRow, facts, idle, err, drop);
    card._ = { meta: id.children[1], badge: state.children[0], since: state.children[1], rtt: val.children[0], rttLabel: val.children[1], svg: svg, scale: box.children[1], facts: facts, idle: idle, err: err, drop: drop };
    return card;
  }

  function updateCard(card, leg, now) {
    var r = card._;
    var state = own(STATE_TEXT, str(leg.state)) ? str(leg.state) : 'closed';
    setAttr(card, 'data-state', state);
    setText(r.meta, [str(leg.kind), str(leg.role), str(leg.remoteAddress)].filter(Boolean).join(' \u00B7 '));
    setText(r.badge, STATE_TEXT[state]);
    var since = Date.parse(str(leg.since));
    setText(r.since, isFinite(since) ? 'for ' + dur(now - since) + ' \u00B7 since ' + clock(since) : '');
    setText(r.rtt, state === 'up' ? rtt(leg.lastRttSeconds) : '\u2014');
    setText(r.rttLabel, state === 'up' ? 'last RTT' : 'no RTT while ' + state);
    drawSpark(r.svg, r.scale, history.get(str(leg.name)) || []);

    r.facts.textContent = '';
    r.facts.append(fact('drops', num(leg.drops) === null ? '?' : num(leg.drops)));
    if (state === 'down') r.facts.append(fact('failed retries', num(leg.reconnectAttempts) || 0));
    renderIdle(r.idle, leg.idle && typeof leg.idle === 'object' ? leg.idle : null);

    var e = leg.currentError && typeof leg.currentError === 'object' ? leg.currentError : null;
    r.err.hidden = !(state !== 'up' && e);
    r.err.textContent = '';
    if (e && state !== 'up') {
      r.err.append(el('span', 'lbl', 'failing now: '), el('span', 'reason', str(e.reason)), ' ', el('span', 'code', str(e.code)), el('span', 'msg', str(e.message)));
    }

    var d = leg.lastDrop && typeof leg.lastDrop === 'object' ? leg.lastDrop : null;
    r.drop.textContent = '';
    if (!d) { r.drop.append('no drop since the probe started'); return; }
    var at = num(d.at);
    r.drop.append(el('span', 'lbl', 'last drop '));
    if (at !== null) {
      var t = el('span', 'mono', clock(at) + ' (' + dur(now - at) + ' ago)');
      t.title = iso(at);
      r.drop.append(t);
    }
    r.drop.append(' \u00B7 ', el('span', 'reason', str(d.reason)));
    if (num(d.closeCode) !== null) r.drop.append(' \u00B7 close ' + num(d.closeCode));
    if (num(d.status) !== null) r.drop.append(' \u00B7 HTTP ' + num(d.status));
    if (num(d.upForSeconds) !== null) r.drop.append(' \u00B7 after ' + dur(num(d.upForSeconds) * 1000) + ' up');
    r.drop.append(el('span', 'code', str(d.code)));
    if (str(d.message)) r.drop.append(el('span', 'msg', str(d.message)));
  }

  /** Idle legs: how long the connection has been silent now, and what its checks found. */
  function renderIdle(box, idle) {
    box.hidden = idle === null;
    box.textContent = '';
    if (idle === null) return;
    var checks = idle.checks && typeof idle.checks === 'object' ? idle.checks : {};
    var idleFor = num(idle.idleForSeconds);
    var longest = num(idle.longestSurvivedSeconds);
    var idleNow = fact('idle now', idleFor === null ? 'not idle' : dur(idleFor * 1000));
    idleNow.className = 'i-now';
    box.append(
      idleNow,
      fact('survived', num(checks.survived) || 0),
      fact('expired', num(checks.expired) || 0),
      fact('inconclusive', num(checks.inconclusive) || 0),
      fact('longest idle survived', longest === null ? 'none yet' : dur(longest * 1000))
    );
    if (str(idle.control)) box.append(fact('control', str(idle.control)));
  }

  function fact(label, value) {
    var span = el('span', null, label + ' ');
    span.append(el('b', null, value));
    return span;
  }

  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    return node;
  }

  function drawSpark(svg, scale, samples) {
    var W = 120, H = 34, n = C.sparkSamples;
    var values = samples.map(function (s) { return s.v; }).filter(function (v) { return v !== null; });
    var peak = values.length ? Math.max.apply(null, values) : 0;
    var top = peak > 0 ? peak * 1.15 : 1;
    var step = W / (n - 1);
    var offset = n - samples.length;
    var d = '';
    var pen = false;
    svg.textContent = '';
    samples.forEach(function (s, i) {
      var x = (offset + i) * step;
      if (s.v === null) {
        pen = false;
        if (s.down) svg.append(svgEl('rect', { class: 'gap', x: (x - step / 2).toFixed(2), y: H - 4, width: step.toFixed(2), height: 4 }));
        return;
      }
      var y = H - 3 - (s.v / top) * (H - 8);
      d += (pen ? 'L' : 'M') + x.toFixed(2) + ' ' + y.toFixed(2) + (pen ? '' : 'h0.01');
      pen = true;
    });
    if (d) svg.append(svgEl('path', { class: 'line', d: d, 'vector-effect': 'non-scaling-stroke' }));
    setAttr(svg, 'aria-label', 'RTT of the last ' + samples.length + ' polls, peak ' + rtt(peak));
    setText(scale, values.length ? 'peak ' + rtt(peak) : '');
  }

  // ---- the timeline: one row per leg on a shared axis, so simultaneous drops line up ----------
  var TICK_STEPS = [10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3];

  function renderTimeline(legs, drops, verdict, now, startedAt) {
    var from = isFinite(startedAt) ? Math.max(startedAt, now - C.timelineMs) : now - C.timelineMs;
    var oldest = drops.reduce(function (m, d) { return Math.min(m, d.at); }, now);
    // A little room left of the oldest drop, so its mark is not cut in half by the edge.
    var span = Math.max(C.minTimelineMs, now - from, (now - oldest) * 1.03);
    var start = now - span;
    var end = now + span * 0.015;
    var pct = function (t) { return (Math.min(Math.max(t, start), end) - start) / (end - start) * 100; };
    setText($('tl-sub'), 'since ' + clock(start) + ' UTC (' + dur(span) + ') \u00B7 ' + drops.length + ' drop' + (drops.length === 1 ? '' : 's') + ' in the ring');

    var rowsEl = $('tl-rows');
    var names = legs.map(function (l) { return str(l.name); });
    drops.forEach(function (d) { if (names.indexOf(str(d.leg)) < 0) names.push(str(d.leg)); });
    reconcile(rowsEl, names, function (n) { return n; }, function (name) {
      var row = el('div', 'tl-row');
      setAttr(row, 'data-row', name);
      var label = el('div', 'tl-label', name);
      label.title = name;
      row.append(label, el('div', 'tl-track'));
      return row;
    }, function (row, name) {
      var leg = legs.find(function (l) { return str(l.name) === name; });
      var state = leg ? str(leg.state) : 'closed';
      row.children[0].classList.toggle('down', state === 'down');
      var track = row.children[1];
      var items = [];
      if (leg && (state === 'down' || state === 'connecting')) {
        var since = Date.parse(str(leg.since));
        if (isFinite(since)) items.push({ kind: 'bar', state: state, since: since });
      }
      drops.forEach(function (d, i) { if (str(d.leg) === name) items.push({ kind: 'mark', d: d, i: i }); });
      reconcile(track, items, function (it) {
        return it.kind === 'bar' ? 'bar|' + it.state : 'mark|' + it.d.at + '|' + str(it.d.code) + '|' + it.i;
      }, function (it) {
        if (it.kind === 'bar') return el('div', 'downbar' + (it.state === 'connecting' ? ' connecting' : ''));
        var m = el('div', 'mark');
        setAttr(m, 'data-leg', str(it.d.leg));
        setAttr(m, 'data-reason', str(it.d.reason));
        m.title = str(it.d.leg) + ': ' + str(it.d.reason) + ' at ' + clock(it.d.at) + ' UTC (' + iso(it.d.at) + ')\n' + str(it.d.code) + (str(it.d.message) ? '\n' + str(it.d.message) : '');
        return m;
      }, function (node, it) {
        if (it.kind === 'bar') {
          node.style.left = pct(it.since) + '%';
          node.style.width = Math.max(0.3, pct(now) - pct(it.since)) + '%';
          node.title = str(name) + ' ' + it.state + ' since ' + clock(it.since) + ' UTC (' + dur(now - it.since) + ')';
        } else {
          node.style.left = pct(it.d.at) + '%';
        }
      });
    });

    // Verdict window and bursts: bands across every row.
    var overlay = $('tl-overlay');
    var bands = [];
    var win = verdict.window && typeof verdict.window === 'object' ? verdict.window : {};
    if (num(win.from) !== null) bands.push({ kind: 'window', from: num(win.from), to: num(win.to) === null ? now : num(win.to) });
    if (isFinite(startedAt) && startedAt > start) bands.push({ kind: 'nodata', from: start, to: startedAt });
    arr(verdict.bursts).forEach(function (b) {
      if (num(b.from) !== null) bands.push({ kind: 'burst', from: num(b.from), to: num(b.to) || num(b.from), legs: arr(b.legs).map(str), verdict: str(b.verdict) });
    });
    reconcile(overlay, bands, function (b) { return b.kind === 'burst' ? b.kind + '|' + b.from + '|' + b.to : b.kind; }, function (b) {
      var band = el('div', 'tl-' + b.kind);
      if (b.kind === 'window') band.append(el('span', null, 'verdict window \u00B1' + len(C.windowMs)));
      if (b.kind === 'nodata') band.append(el('span', null, 'probe not running'));
      return band;
    }, function (node, b) {
      node.style.left = pct(b.from) + '%';
      node.style.width = Math.max(0, pct(b.to) - pct(b.from)) + '%';
      if (b.kind === 'burst') {
        node.title = 'burst at ' + clock(b.from) + ' UTC: ' + b.legs.join(', ') + ' \u2192 ' + verdictInfo(b.verdict).label;
      }
    });

    var step = TICK_STEPS.find(function (s) { return span / s <= 7; }) || TICK_STEPS[TICK_STEPS.length - 1];
    var ticks = [];
    // No tick label where the "now" label sits at the right edge.
    for (var t = Math.ceil(start / step) * step; pct(t) < pct(now) - 9; t += step) ticks.push(t);
    reconcile($('tl-ticks'), ticks.concat(['now']), function (t) { return String(t); }, function (t) {
      return el('span', t === 'now' ? 'tick now' : 'tick');
    }, function (node, t) {
      if (t === 'now') { node.style.left = pct(now) + '%'; setText(node, 'now ' + clock(now)); return; }
      node.style.left = pct(t) + '%';
      setText(node, step < 60e3 ? clock(t) : clockShort(t));
    });
  }

  setText($('v-sub'), 'which segment broke: drops and down time within \u00B1' + len(C.windowMs) + ' of now (the window ends now)');
  setText($('burst-legend'), 'burst: drops within ' + len(C.burstMs) + ' of each other');
  renderConnection();
  poll();
})();
`;

function json(value: unknown): string {
  // Inside <script>, "</script" or "<!--" would end or confuse the element; \u003c cannot.
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

const CONFIG_JSON = json(CLIENT_CONFIG);

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * Only the hashed inline script and style may run; data goes to this origin only; the data: icon
 * keeps the browser from asking for /favicon.ico. The JSON config block is data, not script.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>t3-probe</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <span class="brand">t3-probe</span>
  <span id="summary"></span>
  <span id="conn" data-conn="stale">loading…</span>
  <span id="meta"></span>
</header>
<div id="banner" role="alert" hidden></div>
<main>
  <section id="verdict" class="panel tone-none" data-verdict="no_data" aria-live="polite">
    <h2>Verdict <span id="v-sub" class="sub">which segment broke</span></h2>
    <div class="v-top"><span id="v-title" class="v-title">Waiting for data</span><span id="v-kind" class="v-kind"></span></div>
    <div id="v-segment" class="v-segment"></div>
    <p id="v-summary" class="v-summary"></p>
    <div id="v-legs" class="v-legs"></div>
    <ol id="bursts" aria-label="drop bursts (evidence), newest first"></ol>
  </section>
  <section aria-label="legs">
    <h2>Legs <span class="sub">RTT sparkline: the probe's recent samples, then one per poll; red ticks while down</span></h2>
    <div id="legs"></div>
  </section>
  <section class="panel">
    <h2>Drops <span id="tl-sub" class="sub"></span></h2>
    <div id="timeline">
      <div id="tl-rows"></div>
      <div class="tl-axis"><div class="tl-label"></div><div id="tl-ticks" class="tl-track"></div></div>
      <div id="tl-overlay" class="tl-overlay"></div>
    </div>
    <div class="tl-legend">
      <span><span class="sw mark-sw"></span>drop (hover for reason)</span>
      <span><span class="sw down-sw"></span>down now</span>
      <span><span class="sw burst-sw"></span><span id="burst-legend">burst: drops close together</span></span>
      <span><span class="sw win-sw"></span>verdict window</span>
    </div>
  </section>
</main>
<script type="application/json" id="config">${CONFIG_JSON}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
