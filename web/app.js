// halo status page: plain JavaScript, no dependencies, nothing loaded from anywhere but this server.
//
// Data: /api/status (the same document as `halo status --json`) and /api/events (server-sent events from
// the daemon's event bus, the same stream as `halo events --follow`). Each event is added to the timeline
// and triggers a fresh status; the status is also fetched every few seconds (check results and ages
// change without an event). Every text from the daemon goes into the page with textContent, never as HTML.

const HOUR_MS = 3600_000;
const MAX_EVENTS = 3000;
const STATUS_EVERY_MS = 5000;

const model = {
  /** @type {any} */ status: null,
  statusError: '',
  /** What the last render showed (status text and last event), to skip rebuilding an unchanged page. */
  rendered: '',
  /** @type {any[]} */ events: [],
  stream: '',
  live: false,
};

// ------------------------------------------------------------------------------------------------ helpers

/** h('div', { class: 'x', 'data-state': 'up' }, 'text', child) */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Number.POSITIVE_INFINITY)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(sectionId, ...children) {
  const body = document.querySelector(`#${sectionId} .body`);
  if (body) body.replaceChildren(...children.flat().filter(Boolean));
}

function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hr / 24)}d${String(hr % 24).padStart(2, '0')}h`;
}

/** A relative time that keeps itself current (see tick()). */
function ago(iso, suffix = ' ago') {
  const t = Date.parse(iso);
  const el = h('time', { datetime: iso, 'data-at': Number.isNaN(t) ? '' : t, 'data-suffix': suffix });
  el.title = Number.isNaN(t) ? '' : new Date(t).toLocaleString();
  el.textContent = Number.isNaN(t) ? '?' : `${duration(Date.now() - t)}${suffix}`;
  return el;
}

function clock(iso) {
  const t = new Date(iso);
  return h('time', { datetime: iso, title: t.toLocaleString() }, t.toLocaleTimeString([], { hour12: false }));
}

function badge(state, text) {
  return h('span', { class: 'badge', 'data-state': state }, text ?? state);
}

function kv(pairs) {
  return h(
    'dl',
    { class: 'kv' },
    pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
}

function endpoint(address, port) {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function rsState(r) {
  if (r.state) return r.state;
  if (!r.up) return 'down';
  return (r.effectiveWeight ?? r.weight) === 0 ? 'drained' : 'up';
}

/** An operator's override (halo rs): what, who (the user the client named, else its uid, else how), since when, connections. */
function overrideNodes(o) {
  const what = o.kind === 'weight' ? `weight ${o.weight} set` : o.kind === 'drain' ? 'drained' : 'disabled';
  const who = o.origin.user ?? (o.origin.uid !== undefined ? `uid ${o.origin.uid}` : `via ${o.origin.via}`);
  const conns = o.connections
    ? ` · ${o.connections.active} active, ${o.connections.inactive} inactive connections`
    : '';
  return [`${what} by ${who}, `, ago(o.since), conns];
}

const PEER_WORDS = {
  MASTER: 'MASTER (advertising)',
  LEFT: 'left (sent priority 0)',
  SILENT: 'silent: BACKUP or down',
};

// ------------------------------------------------------------------------------------------------ hour strips

/** When the kept history starts (older states are unknown): the daemon's start, if within the hour. */
function knownSince(now) {
  const start = model.status ? Date.parse(model.status.daemon.startedAt) : now - HOUR_MS;
  return Math.max(now - HOUR_MS, Number.isNaN(start) ? now - HOUR_MS : start);
}

/**
 * Segments of one thing's state over the last hour, walking back from its current state through the
 * events that changed it: [{ from, to, state }] with times in ms.
 */
function segments(current, changes, now) {
  const startKnown = knownSince(now);
  const out = [];
  let state = current;
  let end = now;
  for (const c of [...changes].reverse()) {
    const at = Date.parse(c.at);
    if (at < startKnown) break;
    out.push({ from: at, to: end, state });
    state = c.before;
    end = at;
  }
  out.push({ from: startKnown, to: end, state: state ?? 'unknown' });
  if (startKnown > now - HOUR_MS) out.push({ from: now - HOUR_MS, to: startKnown, state: 'unknown' });
  return out;
}

function strip(label, segs, now) {
  const from = now - HOUR_MS;
  return h(
    'div',
    { class: 'strip', role: 'img', 'aria-label': `${label}: the last hour` },
    segs.map((s) => {
      const left = ((s.from - from) / HOUR_MS) * 100;
      const width = ((s.to - s.from) / HOUR_MS) * 100;
      const el = h('span', { class: 'seg', 'data-state': s.state });
      el.style.left = `${Math.max(0, left)}%`;
      el.style.width = `${Math.max(0.4, width)}%`;
      el.title = `${s.state} ${new Date(s.from).toLocaleTimeString([], { hour12: false })}–${new Date(s.to).toLocaleTimeString([], { hour12: false })}`;
      return el;
    }),
  );
}

function instanceChanges(name) {
  return model.events
    .filter((e) => e.type === 'vrrp.transition' && e.instance === name)
    .map((e) => ({ at: e.at, before: e.from }));
}

function rsChanges(vs, r) {
  return model.events
    .filter(
      (e) =>
        e.type === 'rs.state' && e.virtualServer === vs.name && e.address === r.address && e.port === r.port,
    )
    .map((e) => ({ at: e.at, before: e.previous ?? 'unknown' }));
}

// ------------------------------------------------------------------------------------------------ sections

function renderHeader() {
  const s = model.status;
  const node = document.getElementById('node');
  if (node) node.textContent = s ? `${s.daemon.hostname ?? ''} · v${s.daemon.version}` : '';
  const conn = document.getElementById('conn');
  if (conn) {
    const state = model.statusError ? 'down' : model.live ? 'live' : 'connecting';
    conn.dataset.state = state;
    conn.textContent = state === 'down' ? 'halo not answering' : state === 'live' ? 'live' : 'connecting';
  }
  const banners = [];
  if (model.statusError) banners.push(h('div', { class: 'banner bad', id: 'error' }, model.statusError));
  if (s?.ipvs?.mode === 'dry-run') {
    banners.push(
      h(
        'div',
        { class: 'banner warn', id: 'dry-run' },
        'IPVS: dry-run, nothing programmed (halo run --ipvs dry-run): the tables below are what halo would program.',
      ),
    );
  }
  if (s?.daemon.lastReloadError) {
    banners.push(
      h(
        'div',
        { class: 'banner bad' },
        'The last reload was rejected; the running config stays: ',
        s.daemon.lastReloadError,
      ),
    );
  }
  const partNames = { vrrp: 'The VRRP engine', checks: 'The checks + IPVS part' };
  for (const [key, name] of Object.entries(partNames)) {
    const down = s?.daemon.parts?.[key]?.down;
    if (down)
      banners.push(
        h(
          'div',
          { class: 'banner bad', id: `part-down-${key}` },
          `${name} is down since ${down.since} (${down.reason}) and restarts at ${down.restartAt}: what is shown of it is its last known state.`,
        ),
      );
  }
  document.getElementById('banners')?.replaceChildren(...banners);
  document.title = s ? `halo · ${s.daemon.hostname ?? ''} · ${summary(s)}` : 'halo';
}

function summary(s) {
  const states = s.instances.map((i) => i.state);
  const down = s.virtualServers.flatMap((v) => v.realServers).filter((r) => rsState(r) === 'down').length;
  return [states.join('/') || 'no VRRP', down ? `${down} down` : ''].filter(Boolean).join(' · ');
}

function renderPair() {
  const s = model.status;
  if (!s) return;
  if (s.instances.length === 0) {
    fill(
      'pair',
      h('p', { class: 'muted' }, 'This node runs no VRRP instance (--check-only, or none configured).'),
    );
    return;
  }
  fill(
    'pair',
    s.instances.map((i) => {
      const p = i.peer;
      const prio =
        i.effectivePriority === i.priority
          ? `${i.priority}`
          : `${i.effectivePriority} (configured ${i.priority})`;
      const self = h(
        'div',
        { class: 'side', 'data-side': 'self' },
        h('div', { class: 'label' }, 'this node'),
        h(
          'div',
          { class: 'line' },
          h('strong', {}, s.daemon.hostname ?? `pid ${s.daemon.pid}`),
          badge(i.state),
        ),
        h('div', { class: 'line muted' }, `priority ${prio}`, h('span', {}, 'for ', ago(i.since, ''))),
      );
      const peer = p
        ? h(
            'div',
            { class: 'side', 'data-side': 'peer', 'data-peer-state': p.state },
            h('div', { class: 'label' }, 'peer (its last advert)'),
            h(
              'div',
              { class: 'line' },
              h('strong', { class: 'mono' }, p.address),
              badge(p.state, PEER_WORDS[p.state] ?? p.state),
            ),
            h(
              'div',
              { class: 'line muted' },
              `priority ${p.priority}`,
              h('span', {}, 'last advert ', ago(p.lastAdvertAt)),
            ),
          )
        : h(
            'div',
            { class: 'side', 'data-side': 'peer', 'data-peer-state': 'none' },
            h('div', { class: 'label' }, 'peer'),
            h(
              'div',
              { class: 'muted' },
              'No advert from another router since this instance started: it is BACKUP, or not running.',
            ),
          );
      return h(
        'div',
        { class: 'pair-row', 'data-instance': i.name },
        h('div', {}, h('h3', {}, i.name), h('div', { class: 'muted mono' }, i.vips.join(' '))),
        self,
        peer,
      );
    }),
  );
}

function renderVrrp(now) {
  const s = model.status;
  if (!s) return;
  if (s.instances.length === 0) {
    fill('vrrp', h('p', { class: 'muted' }, 'none'));
    return;
  }
  fill(
    'vrrp',
    s.instances.map((i) => {
      const recent = model.events
        .filter((e) => e.type === 'vrrp.transition' && e.instance === i.name)
        .slice(-5)
        .reverse();
      return h(
        'div',
        { class: 'card', 'data-instance': i.name, 'data-state': i.state },
        h(
          'div',
          { class: 'line' },
          h('h3', {}, i.name),
          badge(i.state),
          h('span', { class: 'muted' }, 'since ', ago(i.since)),
        ),
        strip(i.name, segments(i.state, instanceChanges(i.name), now), now),
        kv([
          ['last reason', i.lastTransitionReason],
          ['interface', `${i.interface ?? '-'}  VRID ${i.vrid ?? '-'}`],
          [
            'priority',
            i.effectivePriority === i.priority
              ? String(i.priority)
              : `${i.effectivePriority} / ${i.priority}`,
          ],
          ['master', i.masterAddress ?? 'unknown'],
          ['VIPs', h('span', { class: 'mono' }, i.vips.join(' ') || '-')],
          i.syncGroup && ['sync group', i.syncGroup],
          i.peerDrift && [
            'peer drift',
            `${i.peerDrift.peer} advertises ${i.peerDrift.theirs.join(' ') || 'none'}`,
          ],
        ]),
        recent.length
          ? h(
              'ol',
              { class: 'events compact', 'aria-label': `${i.name} transitions` },
              recent.map((e) =>
                h(
                  'li',
                  {},
                  clock(e.at),
                  h('span', {}, `${e.from} → ${e.to} `, h('span', { class: 'muted' }, `(${e.reason})`)),
                ),
              ),
            )
          : null,
      );
    }),
  );
}

function checkText(r) {
  const c = r.lastCheck;
  if (!c) return h('span', { class: 'check muted' }, 'not checked yet');
  const ms =
    c.durationMs === undefined
      ? ''
      : ` ${c.durationMs < 10 ? c.durationMs.toFixed(1) : Math.round(c.durationMs)} ms`;
  return h(
    'span',
    { class: 'check' },
    `${c.checker} `,
    c.ok ? h('span', {}, 'ok') : h('span', { class: 'fail' }, 'FAIL'),
    ms,
    ' · ',
    ago(c.at),
    c.reason ? ` · ${c.reason}` : '',
  );
}

function renderLvs(now) {
  const s = model.status;
  if (!s) return;
  if (s.virtualServers.length === 0) {
    fill('lvs', h('p', { class: 'muted' }, 'none (--vrrp-only, or no virtual server configured)'));
    return;
  }
  fill(
    'lvs',
    s.virtualServers.map((vs) => {
      const up = vs.realServers.filter((r) => rsState(r) === 'up').length;
      return h(
        'div',
        { class: 'card', 'data-vs': vs.name },
        h(
          'div',
          { class: 'line' },
          h('h3', { class: 'mono' }, vs.name),
          h('span', { class: 'muted' }, `${vs.scheduler}${vs.forwarding ? ` ${vs.forwarding}` : ''}`),
          h('span', {}, `${up}/${vs.realServers.length} up`),
          vs.quorumUp === false ? badge('down', 'QUORUM DOWN') : null,
        ),
        vs.realServers.map((r) => {
          const state = rsState(r);
          const weight =
            r.effectiveWeight !== undefined && r.effectiveWeight !== r.weight
              ? `weight ${r.effectiveWeight}/${r.weight}`
              : `weight ${r.weight}`;
          return h(
            'div',
            { class: 'rs', 'data-rs': endpoint(r.address, r.port), 'data-state': state },
            h('span', { class: 'mono' }, endpoint(r.address, r.port)),
            h('span', {}, badge(state, state.toUpperCase())),
            h('span', { class: 'muted' }, weight),
            h('span', {}, checkText(r), h('span', { class: 'muted' }, ' · since ', ago(r.since, ''))),
            r.override ? h('span', { class: 'override muted' }, ...overrideNodes(r.override)) : null,
            strip(endpoint(r.address, r.port), segments(state, rsChanges(vs, r), now), now),
          );
        }),
      );
    }),
  );
}

const TIMELINE_TYPES = new Set([
  'vrrp.transition',
  'vrrp.priority_changed',
  'vrrp.peer_drift',
  'vrrp.peer_drift_cleared',
  'rs.state',
  'vs.quorum',
  'ipvs.drift_repaired',
  'config.reloaded',
  'config.reload_rejected',
  'daemon.start',
  'daemon.stop',
  'alert',
]);

function markKind(e) {
  if (e.type === 'vrrp.transition') return e.to === 'MASTER' ? 'ok' : e.to === 'FAULT' ? 'bad' : 'info';
  if (e.type === 'rs.state') return e.state === 'up' ? 'ok' : e.state === 'down' ? 'bad' : 'warn';
  if (e.type === 'config.reload_rejected' || e.type === 'vrrp.peer_drift') return 'bad';
  if (e.type === 'ipvs.drift_repaired' || e.type === 'vs.quorum') return 'warn';
  return 'info';
}

function renderTimeline(now) {
  const from = now - HOUR_MS;
  const recent = model.events.filter((e) => TIMELINE_TYPES.has(e.type) && Date.parse(e.at) >= from);
  const marks = h(
    'div',
    { class: 'marks', 'aria-hidden': 'true' },
    recent.map((e) => {
      const m = h('span', { class: 'mark', 'data-kind': markKind(e) });
      m.style.left = `${((Date.parse(e.at) - from) / HOUR_MS) * 100}%`;
      m.title = `${new Date(e.at).toLocaleTimeString([], { hour12: false })} ${e.message}`;
      return m;
    }),
  );
  const axis = h(
    'div',
    { class: 'axis' },
    h('span', {}, '60 min ago'),
    h('span', {}, '30'),
    h('span', {}, 'now'),
  );
  const list = recent.length
    ? h(
        'ol',
        { class: 'events', id: 'events' },
        [...recent]
          .reverse()
          .slice(0, 300)
          .map((e) =>
            h(
              'li',
              { 'data-type': e.type, 'data-seq': e.seq },
              clock(e.at),
              h('span', {}, h('span', { class: 'type' }, e.type), e.message),
            ),
          ),
      )
    : h('p', { class: 'muted', id: 'events' }, 'Nothing happened in the last hour.');
  // Keep the reader's place in a scrolled list across re-renders.
  const scrolled = document.getElementById('events')?.scrollTop ?? 0;
  fill('timeline', marks, axis, list);
  list.scrollTop = scrolled;
}

function renderIpvs() {
  const s = model.status;
  if (!s) return;
  const i = s.ipvs;
  if (!i) {
    fill(
      'ipvs',
      h('p', { class: 'muted' }, 'Not managed here (--vrrp-only, or no virtual server configured).'),
    );
    return;
  }
  const changes = model.events
    .filter((e) => e.type === 'ipvs.change' || e.type === 'ipvs.drift_repaired')
    .slice(-10)
    .reverse();
  const dry = i.mode === 'dry-run';
  fill(
    'ipvs',
    kv([
      ['mode', dry ? badge('drained', 'dry-run, nothing programmed') : 'kernel'],
      [dry ? 'would program' : 'programmed', `${i.services} services, ${i.destinations} real servers`],
      ['last sync', i.lastSyncAt ? ago(i.lastSyncAt) : 'never'],
      ['drift repairs', String(i.driftRepairs)],
      i.lastError && ['last error', i.lastError],
    ]),
    changes.length
      ? h(
          'ol',
          { class: 'events compact', 'aria-label': 'recent IPVS changes' },
          changes.map((e) => h('li', {}, clock(e.at), h('span', { class: 'mono' }, e.message))),
        )
      : h('p', { class: 'muted' }, 'No IPVS change kept.'),
  );
}

function renderFooter() {
  const s = model.status;
  const f = document.getElementById('footer');
  if (!f || !s) return;
  f.replaceChildren(
    `read-only view · pid ${s.daemon.pid} · config ${s.daemon.configFile} · up `,
    ago(s.daemon.startedAt, ''),
    ' · ',
    h('a', { href: '/api/status' }, 'status JSON'),
    ' · ',
    h('a', { href: '/metrics' }, 'metrics'),
  );
}

function render() {
  const now = Date.now();
  // Rebuilding an unchanged page would reset a scrolled event list every few seconds for nothing.
  const key = `${JSON.stringify(model.status)}|${model.statusError}|${model.live}|${model.events.at(-1)?.seq}|${Math.floor(now / 60_000)}`;
  if (key === model.rendered) {
    tick();
    return;
  }
  model.rendered = key;
  renderHeader();
  renderPair();
  renderVrrp(now);
  renderLvs(now);
  renderTimeline(now);
  renderIpvs();
  renderFooter();
}

/** Keeps every relative time current without rebuilding the page. */
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('time[data-at]')) {
    const t = Number(el.getAttribute('data-at'));
    if (t) el.textContent = `${duration(now - t)}${el.getAttribute('data-suffix') ?? ''}`;
  }
}

// ------------------------------------------------------------------------------------------------ data

let statusTimer = 0;
let statusBusy = false;
let statusAgain = false;

async function refreshStatus() {
  if (statusBusy) {
    statusAgain = true;
    return;
  }
  statusBusy = true;
  try {
    const res = await fetch('/api/status', { cache: 'no-store' });
    if (!res.ok) throw new Error(`status: HTTP ${res.status}`);
    model.status = await res.json();
    model.statusError = '';
  } catch (err) {
    model.statusError = `halo is not answering (${err instanceof Error ? err.message : String(err)}); retrying`;
  } finally {
    statusBusy = false;
  }
  render();
  if (statusAgain) {
    statusAgain = false;
    void refreshStatus();
  }
}

/** Several events in a burst (a failover) cost one status fetch. */
function refreshSoon() {
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => void refreshStatus(), 120);
}

function connectEvents() {
  const es = new EventSource('/api/events');
  es.addEventListener('hello', (m) => {
    const info = JSON.parse(m.data);
    if (info.stream !== model.stream) model.events = []; // another daemon start: its own numbering
    model.stream = info.stream;
    model.live = true;
    refreshSoon();
  });
  es.onmessage = (m) => {
    let e;
    try {
      e = JSON.parse(m.data);
    } catch {
      return;
    }
    const last = model.events[model.events.length - 1];
    if (last && e.seq <= last.seq) return;
    model.events.push(e);
    if (model.events.length > MAX_EVENTS) model.events.splice(0, model.events.length - MAX_EVENTS);
    refreshSoon();
  };
  es.onerror = () => {
    // EventSource reconnects by itself (with Last-Event-ID); say so meanwhile.
    model.live = false;
    renderHeader();
  };
}

refreshStatus();
connectEvents();
setInterval(refreshStatus, STATUS_EVERY_MS);
setInterval(tick, 1000);
