// @ts-check
/*
 * The status page's script: polls `status` (relative, so it works behind a path-prefix proxy) and
 * renders legs, a drop timeline and the verdict. It is served inline in page.html, pinned by its
 * sha256 in the CSP, so it is one classic script with no imports and no build step: what is here
 * is what the browser runs. tsc checks it (src/server/page/tsconfig.json, DOM lib).
 *
 * Everything from /status is untrusted text (leg names, error messages, close reasons chosen by
 * the far end): only textContent, setAttribute and createElement, never innerHTML. The typedefs
 * say what /status holds; the code still checks every value (str, num, arr), because the answer
 * may come from another version of the probe.
 */
'use strict';

/**
 * What the server fills into the config block (PageConfig in src/server/status-page.ts).
 * @typedef {object} PageConfig
 * @property {number} pollMs
 * @property {number} maxBackoffMs
 * @property {number} requestTimeoutMs
 * @property {number} sparkSamples
 * @property {number} timelineMs
 * @property {number} minTimelineMs
 * @property {number} windowMs  The W of now ± W that /status's verdict looks at.
 * @property {number} burstMs  Drops this close to each other are one burst.
 * @property {Record<string, { label: string, tone: string }>} verdicts
 */

/**
 * GET /status: ProbeStatus in src/probe.ts, LegStatus, DropEvent and IdleLegStatus in
 * src/legs/leg.ts, Verdict in src/attribution/verdict.ts. Only what the page reads, and the
 * fields that explain it.
 * @typedef {object} ProbeStatus
 * @property {string} startedAt  RFC 3339
 * @property {Verdict} verdict
 * @property {number} uptimeSeconds
 * @property {LegStatus[]} legs
 * @property {DropEvent[]} recentDrops  oldest first
 *
 * @typedef {'connecting' | 'up' | 'down' | 'closed'} LegState
 *
 * @typedef {object} LegStatus
 * @property {string} name
 * @property {string} kind
 * @property {string} role
 * @property {LegState} state
 * @property {string} since  RFC 3339: when the leg entered its state
 * @property {number | null} lastRttSeconds
 * @property {DropEvent | null} lastDrop
 * @property {number} drops
 * @property {number} reconnectAttempts
 * @property {{ reason: string, code: string, message: string } | null} currentError
 * @property {string | null} remoteAddress
 * @property {[number, number][]} rttHistory  [Unix ms, RTT seconds], oldest first
 * @property {IdleLegStatus} [idle]  idle legs only
 *
 * @typedef {object} IdleLegStatus
 * @property {number | null} idleForSeconds  null: not idle now
 * @property {{ survived: number, expired: number, inconclusive: number }} checks
 * @property {number | null} longestSurvivedSeconds
 * @property {'up' | 'down'} control
 *
 * @typedef {object} DropEvent
 * @property {string} leg
 * @property {string} reason
 * @property {string} code
 * @property {string} message
 * @property {number} at  Unix ms
 * @property {number | null} upForSeconds
 * @property {number} [closeCode]
 * @property {number} [status]
 *
 * @typedef {object} Verdict
 * @property {string} verdict
 * @property {string} segment
 * @property {string} summary
 * @property {number} at  the probe's "now" when it answered
 * @property {{ from: number, to: number }} window  [at - windowMs, min(at + windowMs, now)]
 * @property {number} windowMs
 * @property {boolean} clampedToNow
 * @property {{ fraction: number, from: number | null, to: number | null }} coverage
 * @property {DropBurst[]} bursts  oldest first
 * @property {number | null} decidingBurst
 * @property {string[]} droppedLegs
 * @property {string[]} cleanLegs
 *
 * @typedef {object} DropBurst
 * @property {number} from
 * @property {number} to
 * @property {string[]} legs
 * @property {{ leg: string, reason: string, at: number }[]} drops
 * @property {string} verdict
 */

/**
 * @typedef {{ t: number, v: number | null, down: boolean }} Sample  one sparkline point
 * @typedef {{ meta: Element, badge: Element, since: Element, rtt: Element, rttLabel: Element, svg: Element, scale: Element, facts: HTMLElement, idle: HTMLElement, err: HTMLElement, drop: HTMLElement }} CardParts
 * @typedef {HTMLElement & { _: CardParts }} Card
 * @typedef {{ kind: 'bar', state: string, since: number } | { kind: 'mark', d: DropEvent, i: number }} TrackItem
 * @typedef {{ kind: 'window' | 'nodata', from: number, to: number } | { kind: 'burst', from: number, to: number, legs: string[], verdict: string }} Band
 */

(function () {
  /** @type {unknown} */
  var config = JSON.parse(/** @type {string} */ ($('config').textContent));
  var C = /** @type {PageConfig} */ (config);
  /** @type {Record<LegState, string>} */
  var STATE_TEXT = { up: '\u25CF UP', down: '\u2715 DOWN', connecting: '\u25CC CONNECTING', closed: '\u25A0 CLOSED' };
  var SVG_NS = 'http://www.w3.org/2000/svg';

  /** @type {number | undefined} */
  var timer;
  var inFlight = false;
  var failures = 0;
  /** @type {number | null} */
  var failingSince = null;
  var lastError = '';
  /** @type {number | null} */
  var lastOkAt = null;
  var skewMs = 0;
  /** @type {Map<string, Sample[]>} */
  var history = new Map();
  /** @type {WeakMap<Element, Map<string, Element>>} */
  var keyed = new WeakMap();

  // ---- small DOM helpers: text only, never markup --------------------------------------------
  /** The page's own elements: page.html has every id this script asks for. */
  function $(/** @type {string} */ id) { return /** @type {HTMLElement} */ (document.getElementById(id)); }
  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {string | null} [cls]
   * @param {string | number | null} [text]
   */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  /** @param {Node} node @param {string | number | null | undefined} text */
  function setText(node, text) {
    var s = text === undefined || text === null ? '' : String(text);
    if (node.textContent !== s) node.textContent = s;
  }
  /** @param {Element} node @param {string} name @param {unknown} value */
  function setAttr(node, name, value) {
    var s = String(value);
    if (node.getAttribute(name) !== s) node.setAttribute(name, s);
  }
  /** A child element that this script's own create callback made, so it is there. */
  function child(/** @type {Element} */ node, /** @type {number} */ i) { return /** @type {Element} */ (node.children[i]); }
  // Whatever /status holds is shown as text, even an object as "[object Object]".
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  function str(/** @type {unknown} */ v) { return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v); }
  /** @returns {number | null} */
  function num(/** @type {unknown} */ v) { return typeof v === 'number' && isFinite(v) ? v : null; }
  /** @template T @param {T[] | null | undefined} v @returns {T[]} */
  function arr(v) { return Array.isArray(v) ? v : []; }
  /** @template T @param {Record<string, T>} map @param {string} key @returns {T | undefined} */
  function own(map, key) { return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : undefined; }
  function verdictInfo(/** @type {string} */ kind) { return own(C.verdicts, kind) || { label: kind, tone: 'none' }; }
  /** An error's message, or '' (a rejection reason can be anything). */
  function message(/** @type {unknown} */ err) { return str(err && /** @type {{ message?: unknown }} */ (err).message); }

  /**
   * Keep one child per key across renders, so hover tooltips and selections survive a poll.
   * @template T
   * @template {Element} N
   * @param {Element} container
   * @param {T[]} items
   * @param {(item: T, i: number) => string} key
   * @param {(item: T) => N} create
   * @param {(node: N, item: T) => void} update
   */
  function reconcile(container, items, key, create, update) {
    var map = keyed.get(container);
    if (!map) { map = new Map(); keyed.set(container, map); }
    var nodes = map;
    var seen = new Set();
    /** @type {Element | null} */
    var prev = null;
    items.forEach(function (item, i) {
      var k = key(item, i);
      if (seen.has(k)) return;
      seen.add(k);
      var node = /** @type {N | undefined} */ (nodes.get(k));
      if (!node) { node = create(item); nodes.set(k, node); }
      update(node, item);
      var want = prev ? prev.nextSibling : container.firstChild;
      if (want !== node) container.insertBefore(node, want);
      prev = node;
    });
    nodes.forEach(function (node, k) {
      if (!seen.has(k)) { node.remove(); nodes.delete(k); }
    });
  }

  // ---- formatting ------------------------------------------------------------------------------
  function pad(/** @type {number} */ n) { return n < 10 ? '0' + n : String(n); }
  function clock(/** @type {number} */ ms) {
    var d = new Date(ms);
    return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
  }
  function clockShort(/** @type {number} */ ms) { var d = new Date(ms); return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()); }
  function iso(/** @type {number} */ ms) { return new Date(ms).toISOString(); }
  function dur(/** @type {number} */ ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + pad(s % 60) + 's';
    var h = Math.floor(m / 60);
    if (h < 48) return h + 'h ' + pad(m % 60) + 'm';
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }
  /** A configured length as written in config: 2m, 3s, 500ms. */
  function len(/** @type {number} */ ms) {
    if (ms >= 60e3 && ms % 60e3 === 0) return ms / 60e3 + 'm';
    if (ms >= 1e3 && ms % 1e3 === 0) return ms / 1e3 + 's';
    return ms >= 1e3 ? dur(ms) : Math.round(ms) + 'ms';
  }
  function rtt(/** @type {unknown} */ seconds) {
    var s = num(seconds);
    if (s === null) return '\u2014';
    var ms = s * 1000;
    if (ms < 1) return ms.toFixed(2) + ' ms';
    if (ms < 100) return ms.toFixed(1) + ' ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function serverNow() { return Date.now() + skewMs; }
  function list(/** @type {string[]} */ items) { return items.length === 0 ? 'none' : items.join(', '); }

  // ---- polling: one request at a time, back off on errors, pause while hidden --------------------
  function schedule(/** @type {number} */ ms) {
    clearTimeout(timer);
    timer = undefined;
    if (!document.hidden) timer = setTimeout(poll, ms);
  }

  function poll() {
    timer = undefined;
    if (inFlight || document.hidden) return;
    inFlight = true;
    var controller = new AbortController();
    var deadline = setTimeout(function () { controller.abort(); }, C.requestTimeoutMs);
    void fetch('status', { cache: 'no-store', headers: { accept: 'application/json' }, signal: controller.signal })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status + ' from status');
        return /** @type {Promise<ProbeStatus>} */ (res.json());
      })
      .then(function (data) {
        failures = 0;
        failingSince = null;
        lastOkAt = Date.now();
        try {
          render(data);
        } catch (err) {
          lastError = 'cannot render /status: ' + message(err);
          failures = 1;
          failingSince = Date.now();
        }
      }, function (/** @type {unknown} */ err) {
        failures++;
        if (failingSince === null) failingSince = Date.now();
        lastError = controller.signal.aborted ? 'no answer within ' + C.requestTimeoutMs / 1000 + ' s' : message(err) || 'request failed';
      })
      .then(function () {
        clearTimeout(deadline);
        inFlight = false;
        renderConnection();
        schedule(failures === 0 ? C.pollMs : Math.min(C.maxBackoffMs, C.pollMs * Math.pow(2, failures)));
      });
  }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) { clearTimeout(timer); timer = undefined; } else if (!inFlight) poll();
  });
  setInterval(function () { if (!document.hidden) renderConnection(); }, 1000);

  // ---- rendering -------------------------------------------------------------------------------
  function render(/** @type {ProbeStatus} */ s) {
    var verdict = /** @type {Partial<Verdict>} */ (s && typeof s.verdict === 'object' && s.verdict !== null ? s.verdict : {});
    var at = num(verdict.at);
    // Draw everything on the probe's clock: verdict.at is its "now" when it answered.
    skewMs = at === null ? 0 : at - Date.now();
    var now = serverNow();
    var legs = arr(s.legs).filter(function (l) { return l && typeof l === 'object'; });
    var drops = arr(s.recentDrops).filter(function (d) { return d && typeof d === 'object' && num(d.at) !== null; });
    recordSamples(legs, now);
    renderVerdict(verdict);
    renderLegs(legs, now);
    renderTimeline(legs, drops, verdict, now, Date.parse(str(s.startedAt)));
    renderHeader(legs, verdict, str(s.startedAt), num(s.uptimeSeconds));
  }

  /** @param {LegStatus[]} legs @param {number} now */
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

  /** @param {LegStatus} leg @returns {Sample[]} */
  function seedSamples(leg) {
    return arr(leg.rttHistory).filter(function (p) { return Array.isArray(p) && num(p[0]) !== null && num(p[1]) !== null; })
      .slice(-(C.sparkSamples - 1))
      .map(function (p) { return { t: p[0], v: p[1], down: false }; });
  }

  /** @param {LegStatus[]} legs @param {Partial<Verdict>} verdict @param {string} startedAt @param {number | null} uptime */
  function renderHeader(legs, verdict, startedAt, uptime) {
    var counts = { up: 0, down: 0, other: 0 };
    legs.forEach(function (l) { if (l.state === 'up') counts.up++; else if (l.state === 'down') counts.down++; else counts.other++; });
    var summary = $('summary');
    summary.textContent = '';
    if (counts.down > 0) summary.append(el('span', 'n-down', '\u2715 ' + counts.down + ' down'), ' \u00B7 ');
    if (counts.other > 0) summary.append(el('span', 'n-other', counts.other + ' connecting/closed'), ' \u00B7 ');
    summary.append(el('span', 'n-up', counts.up + '/' + legs.length + ' up'));
    document.title = (counts.down > 0 ? '\u2715 ' + counts.down + ' down' : '\u25CF all up') + ' \u00B7 ' + verdictInfo(str(verdict.verdict)).label + ' \u00B7 t3-probe';
    var meta = 'up ' + dur((uptime || 0) * 1000);
    var started = Date.parse(startedAt);
    if (isFinite(started)) meta += ' (since ' + iso(started).replace('T', ' ').replace(/\.\d+Z$/, 'Z') + ')';
    setText($('meta'), meta + ' \u00B7 times UTC');
  }

  function renderConnection() {
    var conn = $('conn');
    var banner = $('banner');
    var stale = failingSince !== null;
    document.body.classList.toggle('stale', stale);
    if (failingSince !== null) {
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

  function renderVerdict(/** @type {Partial<Verdict>} */ v) {
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
    var win = /** @type {Partial<Verdict['window']>} */ (v.window && typeof v.window === 'object' ? v.window : {});
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
      var from = /** @type {number} */ (num(b.from)); // the filter above kept only bursts with one
      var span = (num(b.to) || 0) - from;
      var legsOf = arr(b.legs).map(str);
      setText(child(li, 0), clock(from) + (span > 0 ? ' +' + span + ' ms' : ''));
      setText(child(li, 1), legsOf.length + (legsOf.length === 1 ? ' leg: ' : ' legs together: ') + legsOf.join(', '));
      setText(child(li, 2), arr(b.drops).map(function (d) { return str(d.leg) + ' ' + str(d.reason); }).join(', '));
      setText(child(li, 3), '\u2192 ' + verdictInfo(str(b.verdict)).label);
    });
  }

  /** @param {LegStatus[]} legs @param {number} now */
  function renderLegs(legs, now) {
    reconcile($('legs'), legs, function (l) { return str(l.name); }, createCard, function (card, leg) { updateCard(card, leg, now); });
  }

  /** @param {LegStatus} leg @returns {Card} */
  function createCard(leg) {
    var card = /** @type {Card} */ (el('section', 'card'));
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
    card._ = { meta: child(id, 1), badge: child(state, 0), since: child(state, 1), rtt: child(val, 0), rttLabel: child(val, 1), svg: svg, scale: child(box, 1), facts: facts, idle: idle, err: err, drop: drop };
    return card;
  }

  /** @param {Card} card @param {LegStatus} leg @param {number} now */
  function updateCard(card, leg, now) {
    var r = card._;
    var state = /** @type {LegState} */ (own(STATE_TEXT, str(leg.state)) ? str(leg.state) : 'closed');
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
    var upFor = num(d.upForSeconds);
    if (upFor !== null) r.drop.append(' \u00B7 after ' + dur(upFor * 1000) + ' up');
    r.drop.append(el('span', 'code', str(d.code)));
    if (str(d.message)) r.drop.append(el('span', 'msg', str(d.message)));
  }

  /** Idle legs: how long the connection has been silent now, and what its checks found. */
  function renderIdle(/** @type {HTMLElement} */ box, /** @type {IdleLegStatus | null} */ idle) {
    box.hidden = idle === null;
    box.textContent = '';
    if (idle === null) return;
    var checks = /** @type {Partial<IdleLegStatus['checks']>} */ (idle.checks && typeof idle.checks === 'object' ? idle.checks : {});
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

  function fact(/** @type {string} */ label, /** @type {string | number | null} */ value) {
    var span = el('span', null, label + ' ');
    span.append(el('b', null, value));
    return span;
  }

  /** @param {string} tag @param {Record<string, string | number>} attrs */
  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    return node;
  }

  /** @param {Element} svg @param {Element} scale @param {Sample[]} samples */
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

  /** @param {LegStatus[]} legs @param {DropEvent[]} drops @param {Partial<Verdict>} verdict @param {number} now @param {number} startedAt */
  function renderTimeline(legs, drops, verdict, now, startedAt) {
    var from = isFinite(startedAt) ? Math.max(startedAt, now - C.timelineMs) : now - C.timelineMs;
    var oldest = drops.reduce(function (m, d) { return Math.min(m, d.at); }, now);
    // A little room left of the oldest drop, so its mark is not cut in half by the edge.
    var span = Math.max(C.minTimelineMs, now - from, (now - oldest) * 1.03);
    var start = now - span;
    var end = now + span * 0.015;
    var pct = function (/** @type {number} */ t) { return (Math.min(Math.max(t, start), end) - start) / (end - start) * 100; };
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
      child(row, 0).classList.toggle('down', state === 'down');
      var track = child(row, 1);
      /** @type {TrackItem[]} */
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
    /** @type {Band[]} */
    var bands = [];
    var win = /** @type {Partial<Verdict['window']>} */ (verdict.window && typeof verdict.window === 'object' ? verdict.window : {});
    var winFrom = num(win.from);
    if (winFrom !== null) bands.push({ kind: 'window', from: winFrom, to: num(win.to) === null ? now : /** @type {number} */ (num(win.to)) });
    if (isFinite(startedAt) && startedAt > start) bands.push({ kind: 'nodata', from: start, to: startedAt });
    arr(verdict.bursts).forEach(function (b) {
      var bFrom = num(b.from);
      if (bFrom !== null) bands.push({ kind: 'burst', from: bFrom, to: num(b.to) || bFrom, legs: arr(b.legs).map(str), verdict: str(b.verdict) });
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

    var step = /** @type {number} */ (TICK_STEPS.find(function (s) { return span / s <= 7; }) || TICK_STEPS[TICK_STEPS.length - 1]);
    /** @type {(number | 'now')[]} */
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
