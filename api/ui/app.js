// The converge dashboard: it lists what the API serves and keeps it live
// through the one stream of the tab (stream.js). A change of one resource
// repaints its table row and graph node in place, at once; the filtered
// list and the summary follow on the next frame.

import { PHASES, phaseHTML, esc, short, ago, clock } from './phase.js';
import { Graph } from './graph.js';
import { Stream } from './stream.js';

const $ = (sel) => document.querySelector(sel);
const ROW_H = 30;
const MAX_EVENTS = 200;

const state = {
  byId: new Map(), // resource ID -> list item (with deps, labels, drifted)
  status: {}, // the list's status view: target, lastKnownGood, ...
  revisions: [],
  events: new Map(), // event ID -> its <li>
  selected: '',
  loaded: false,
  pending: [], // stream messages before the first list
  filtered: [],
};

// What tests and curious people read: when each change reached the page,
// and every phase each resource went through.
const stats = { applied: [], phases: {}, started: performance.now(), streamOpen: 0, listed: 0, firstPaint: 0, opens: 0 };
window.convergeDashboard = stats;

// The API, with the token when one is needed.
function token() {
  return sessionStorage.getItem('converge-token') || '';
}

async function api(path, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.body ? { 'Content-Type': 'application/json' } : {}) };
  if (token()) headers.Authorization = 'Bearer ' + token();
  const resp = await fetch('api/v1/' + path, { ...opts, headers, cache: 'no-store' });
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  if (resp.status === 401) {
    $('#token-form').hidden = false;
  }
  if (!resp.ok) {
    const err = new Error((body && body.error) || `HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function resourcePath(id) {
  const i = id.indexOf('/');
  return encodeURIComponent(id.slice(0, i)) + '/' + encodeURIComponent(id.slice(i + 1));
}

// ---- The resource table (virtualized: only the rows in view exist).

const scroller = $('#table-scroll');
const tbody = $('#rows');
let rowEls = new Map();

function matches(r) {
  const q = $('#f-search').value.trim().toLowerCase();
  const kind = $('#f-kind').value, phase = $('#f-phase').value;
  if (kind && r.kind !== kind) return false;
  if (phase && r.phase !== phase) return false;
  if ($('#f-drifted').checked && !r.drifted) return false;
  if (!q) return true;
  if (r.id.toLowerCase().includes(q) || (r.message || '').toLowerCase().includes(q)) return true;
  return Object.entries(r.labels || {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(q));
}

function refilter(force = false) {
  state.filtered = [...state.byId.keys()].sort().filter((id) => matches(state.byId.get(id)));
  const total = state.byId.size;
  $('#f-count').textContent = state.filtered.length === total ? `${total} resources` : `${state.filtered.length} of ${total} resources`;
  renderRows(force);
}

function rowHTML(r) {
  return `<td><button class="link" type="button" data-id="${esc(r.id)}">${esc(r.id)}</button></td>` +
    `<td>${phaseHTML(r.phase)}${r.drifted && r.phase !== 'Drifted' ? ' ' + phaseHTML('Drifted') : ''}</td>` +
    `<td title="${esc(r.lastError || r.message)}">${esc(r.lastError || r.message)}</td>` +
    `<td>${esc(ago(r.lastReconcile))}</td>`;
}

// renderRows draws the rows in view. The same rows are not drawn again
// (a live change repaints its own row), so that the focus stays put,
// unless force says their data were read again.
let drawn = '';
function renderRows(force = false) {
  const n = state.filtered.length;
  const top = Math.max(0, Math.floor(scroller.scrollTop / ROW_H) - 10);
  const count = Math.ceil((scroller.clientHeight || 600) / ROW_H) + 20;
  const end = Math.min(n, top + count);
  const key = `${n}|${top}|${state.filtered.slice(top, end).join('\n')}`;
  if (key === drawn && !force) return;
  drawn = key;
  const html = [`<tr class="spacer" aria-hidden="true"><td colspan="4"></td></tr>`];
  for (let i = top; i < end; i++) {
    const r = state.byId.get(state.filtered[i]);
    html.push(`<tr data-id="${esc(r.id)}" aria-rowindex="${i + 2}"${r.id === state.selected ? ' class="selected"' : ''}>${rowHTML(r)}</tr>`);
  }
  html.push(`<tr class="spacer" aria-hidden="true"><td colspan="4"></td></tr>`);
  tbody.innerHTML = html.join('');
  tbody.firstElementChild.style.height = `${top * ROW_H}px`;
  tbody.lastElementChild.style.height = `${(n - end) * ROW_H}px`;
  rowEls = new Map();
  for (const tr of tbody.querySelectorAll('tr[data-id]')) rowEls.set(tr.dataset.id, tr);
}

// "5s ago" ages: draw the rows again now and then, unless one has the focus.
setInterval(() => { if (state.loaded && !tbody.contains(document.activeElement)) renderRows(true); }, 30000);

let scrollQueued = false;
scroller.addEventListener('scroll', () => {
  if (scrollQueued) return;
  scrollQueued = true;
  requestAnimationFrame(() => { scrollQueued = false; renderRows(); });
});
for (const el of ['#f-search', '#f-kind', '#f-phase', '#f-drifted']) $(el).addEventListener('input', () => { scroller.scrollTop = 0; refilter(); });
$('#filters').addEventListener('submit', (e) => e.preventDefault());
tbody.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-id]');
  if (b) select(b.dataset.id);
});

function fillSelect(sel, values) {
  const cur = sel.value;
  sel.innerHTML = '<option value="">all</option>' + values.map((v) => `<option>${esc(v)}</option>`).join('');
  sel.value = values.includes(cur) ? cur : '';
}

// ---- The summary, the drift view.

function renderSummary() {
  const counts = {};
  for (const r of state.byId.values()) counts[r.phase] = (counts[r.phase] || 0) + 1;
  const s = state.status;
  const parts = [`Target <code>${esc(short(s.targetRevision)) || 'none'}</code> ${esc(s.targetState || '')}`];
  if (s.lastKnownGood) parts.push(`last known good <code>${esc(short(s.lastKnownGood))}</code>`);
  parts.push(PHASES.filter((p) => counts[p]).map((p) => `${phaseHTML(p)} ${counts[p]}`).join(' '));
  if (s.heldRevision) parts.push(`<strong>held</strong> <code>${esc(short(s.heldRevision))}</code>: ${esc(s.heldReason)}`);
  $('#summary').innerHTML = parts.join(' · ');
  const drifted = [...state.byId.values()].filter((r) => r.drifted || r.phase === 'Drifted');
  $('#drift-count').textContent = drifted.length ? String(drifted.length) : '';
  $('#drift').innerHTML = drifted.length
    ? drifted.map((r) => `<li data-id="${esc(r.id)}">${phaseHTML(r.phase)} <button class="link" type="button" data-id="${esc(r.id)}">${esc(r.id)}</button>` +
      `<span>${esc(r.message)}</span><button type="button" data-reconcile="${esc(r.id)}">Reconcile now</button></li>`).join('')
    : '<li class="muted">Nothing stands drifted.</li>';
}

$('#drift').addEventListener('click', (e) => {
  const b = e.target.closest('button');
  if (!b) return;
  if (b.dataset.reconcile) reconcile(b.dataset.reconcile, b);
  else if (b.dataset.id) select(b.dataset.id);
});

// ---- The graph.

const graph = new Graph($('#graph'), (id, kind) => {
  if (id) { select(id); return; }
  // A group: list its kind in the table.
  $('#f-kind').value = kind;
  refilter();
  showTab('resources');
});
let graphDirty = true;
function renderGraph() {
  if ($('#view-graph').hidden) { graphDirty = true; return; }
  graphDirty = false;
  $('#g-note').textContent = graph.render(state.byId, { mode: $('#g-mode').value, collapse: $('#g-collapse').checked, selected: state.selected });
}
$('#g-mode').addEventListener('input', renderGraph);
$('#g-collapse').addEventListener('input', renderGraph);

// ---- Tabs (arrow keys move between them, as the ARIA pattern has it).

const tabs = [...document.querySelectorAll('[role="tab"]')];
function showTab(name) {
  if (!tabs.some((t) => t.id === 'tab-' + name)) name = 'resources';
  for (const t of tabs) {
    const on = t.id === 'tab-' + name;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $('#' + t.getAttribute('aria-controls')).hidden = !on;
  }
  if (name === 'graph' && graphDirty) renderGraph();
  if (name === 'resources') renderRows();
  if (name === 'revisions') loadRevisions();
  if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
}
for (const t of tabs) {
  t.addEventListener('click', () => showTab(t.id.slice(4)));
  t.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(t);
    const j = e.key === 'ArrowRight' ? (i + 1) % tabs.length : e.key === 'ArrowLeft' ? (i + tabs.length - 1) % tabs.length : -1;
    if (j >= 0) { tabs[j].focus(); showTab(tabs[j].id.slice(4)); }
  });
}

// ---- The detail panel.

function kv(obj) {
  const e = Object.entries(obj || {});
  if (!e.length) return '<p class="muted">none</p>';
  return `<dl>${e.map(([k, v]) => `<dt>${esc(k)}</dt><dd class="mono">${esc(typeof v === 'string' ? v : JSON.stringify(v))}</dd>`).join('')}</dl>`;
}

let detailSeq = 0;
async function select(id) {
  state.selected = id;
  for (const tr of tbody.querySelectorAll('tr.selected')) tr.classList.remove('selected');
  rowEls.get(id)?.classList.add('selected');
  graph.select(id);
  await loadDetail(true);
}

async function loadDetail(focus = false) {
  const id = state.selected;
  if (!id) return;
  const my = ++detailSeq;
  let d;
  try {
    d = await api('resources/' + resourcePath(id));
  } catch (err) {
    if (my === detailSeq) $('#detail').innerHTML = `<h2 id="detail-title">${esc(id)}</h2><p>${esc(err.message)}</p>`;
    return;
  }
  if (my !== detailSeq) return;
  const retry = d.nextRetry ? `${clock(d.nextRetry)} (${d.attempts || 0} attempts so far)` : '';
  const facts = [['Phase', phaseHTML(d.phase)], ['Message', esc(d.message)], ['Why it waits', esc(d.waiting)],
    ['Waiting for', (d.waitingFor || []).map((w) => `${esc(w.id)} ${phaseHTML(w.phase)}`).join('<br>')],
    ['Last error', esc(d.lastError)], ['Next retry', esc(retry)], ['Desired', d.desired ? 'yes' : 'no: converge will delete or forget it'],
    ['Depends on', (d.deps || []).map((x) => `<button class="link" type="button" data-id="${esc(x)}">${esc(x)}</button>`).join('<br>')],
    ['Revision', `<code>${esc(short(d.revision))}</code>`], ['Origin', esc(d.origin)], ['Last reconcile', esc(clock(d.lastReconcile))],
    ['Labels', Object.entries(d.labels || {}).map(([k, v]) => `<code>${esc(k)}=${esc(v)}</code>`).join(' ')]]
    .filter(([, v]) => v);
  const conds = (d.conditions || []).map((c) => `<tr><td>${esc(c.type)}</td><td>${esc(c.status)}</td><td>${esc(c.reason)}</td><td>${esc(c.message || '')}</td></tr>`).join('');
  const evs = (d.events || []).slice().reverse().map((e) => `<li>${eventHTML(e)}</li>`).join('');
  $('#detail').innerHTML = `<h2 id="detail-title">${esc(d.id)}</h2>
    <div class="actions"><button type="button" data-reconcile="${esc(d.id)}">Reconcile now</button></div>
    <dl>${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
    ${d.drift ? `<h3>Drift (observed → applied)</h3><pre class="drift">${esc(d.drift)}</pre>` : ''}
    <h3>Conditions</h3>${conds ? `<table><thead><tr><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Message</th></tr></thead><tbody>${conds}</tbody></table>` : '<p class="muted">none</p>'}
    <h3>Outputs</h3>${kv(d.outputs)}
    <h3>Spec <span class="muted">(sensitive values masked)</span></h3><pre>${esc(JSON.stringify(d.spec || {}, null, 2))}</pre>
    ${d.appliedSpec ? `<details><summary>Spec last applied</summary><pre>${esc(JSON.stringify(d.appliedSpec, null, 2))}</pre></details>` : ''}
    <h3>Events</h3><ol class="events">${evs || '<li class="muted">none</li>'}</ol>`;
  if (focus) $('#detail').focus({ preventScroll: true });
}

$('#detail').addEventListener('click', (e) => {
  const b = e.target.closest('button');
  if (!b) return;
  if (b.dataset.reconcile) reconcile(b.dataset.reconcile, b);
  else if (b.dataset.id) select(b.dataset.id);
});

async function reconcile(id, button) {
  button.disabled = true;
  try {
    await api('resources/' + resourcePath(id) + '/reconcile', { method: 'POST', body: '{}' });
    button.textContent = 'Reconciling…';
  } catch (err) {
    button.textContent = 'Failed: ' + err.message;
  } finally {
    setTimeout(() => { button.disabled = false; button.textContent = 'Reconcile now'; }, 1500);
  }
}

// ---- The live event feed.

function eventHTML(e) {
  const warn = e.type === 'Warning';
  return `<span class="when">${esc(clock(e.lastSeen))}</span><span class="${warn ? 'warn' : ''}"><span aria-hidden="true">${warn ? '⚠' : '•'}</span> <span class="reason">${esc(e.reason)}</span>${warn ? ' <span class="sr-only">warning</span>' : ''}</span>` +
    (e.resource ? ` <button class="link" type="button" data-id="${esc(e.resource)}">${esc(e.resource)}</button>` : '') +
    ` ${esc(e.message)}${e.count > 1 ? ` <span class="times">×${e.count}</span>` : ''}`;
}

const feed = $('#events');
function addEvent(e) {
  let li = state.events.get(e.id);
  if (li) li.remove();
  else li = document.createElement('li');
  li.dataset.reason = e.reason;
  li.dataset.resource = e.resource;
  li.innerHTML = eventHTML(e);
  feed.prepend(li);
  state.events.set(e.id, li);
  while (feed.children.length > MAX_EVENTS) {
    const last = feed.lastElementChild;
    for (const [k, v] of state.events) if (v === last) state.events.delete(k);
    last.remove();
  }
}
feed.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-id]');
  if (b) select(b.dataset.id);
});

// ---- Revisions and rollback.

let revisionsHTML = '';
async function loadRevisions() {
  try { state.revisions = await api('revisions'); } catch { return; }
  // The summary's marks follow the history.
  for (const r of state.revisions) {
    if (r.target) { state.status.targetRevision = r.hash; state.status.targetState = r.state; }
    if (r.lastKnownGood) state.status.lastKnownGood = r.hash;
  }
  if (state.loaded) renderSummary();
  // Drawn again only when it changed: a button in focus, or under the
  // pointer, stays.
  const html = state.revisions.slice().reverse().map((r) => {
    const marks = (r.target ? '<span class="badge target">target</span>' : '') + (r.lastKnownGood ? '<span class="badge lkg">last known good</span>' : '');
    const act = r.target ? '' : `<button type="button" data-rollback="${esc(r.hash)}">Roll back to ${esc(short(r.hash))}</button>`;
    return `<tr data-hash="${esc(r.hash)}"${r.target ? ' data-target="true"' : ''}><td><code title="${esc(r.hash)}">${esc(short(r.hash))}</code></td><td><time datetime="${esc(r.created)}" title="${esc(r.created)}">${esc(clock(r.created))}</time></td>` +
      `<td>${esc(r.state)}${r.reason ? `: <span class="muted">${esc(r.reason)}</span>` : ''}</td><td>${r.resources}</td><td>${marks}</td><td>${act}</td></tr>`;
  }).join('');
  if (html !== revisionsHTML) $('#revisions').innerHTML = revisionsHTML = html;
}

const dialog = $('#confirm');
function confirmRollback(to) {
  const from = short(state.status.targetRevision);
  $('#confirm-text').textContent = to
    ? `Make revision ${short(to)} the target again, instead of ${from}? converge converges it at once and stays off ${from} until the manifests change.`
    : `Roll back from ${from} to the last known good revision? converge converges it at once and stays off ${from} until the manifests change.`;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

async function rollback(to) {
  if (!(await confirmRollback(to))) return;
  const out = $('#rollback-result');
  try {
    const v = await api('rollback', { method: 'POST', body: JSON.stringify(to ? { revision: to } : {}) });
    out.textContent = `Rolled back from ${short(v.from)} to ${short(v.to)}.`;
  } catch (err) {
    out.textContent = 'Rollback refused: ' + err.message;
  }
  loadRevisions();
}
$('#revisions').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-rollback]');
  if (b) rollback(b.dataset.rollback);
});
$('#rollback-lkg').addEventListener('click', () => rollback(''));

// ---- The plan preview.

$('#plan-run').addEventListener('click', async () => {
  const out = $('#plan');
  out.innerHTML = '<p>Planning…</p>';
  let p;
  try { p = await api('plan'); } catch (err) { out.innerHTML = `<p>${esc(err.message)}</p>`; return; }
  const sum = Object.entries(p.summary || {}).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ');
  const acts = (p.actions || []).filter((a) => a.action !== 'none');
  out.innerHTML = `<p>Revision <code>${esc(short(p.revision))}</code>: ${esc(sum) || 'nothing'}. ${p.changes ? '' : '<strong>No changes.</strong>'}</p>` +
    (p.incomplete ? '<p><strong>Incomplete:</strong> some resources could not be observed.</p>' : '') +
    (p.held ? `<p><strong>Held:</strong> ${esc(p.held)}</p>` : '') + (p.staying ? `<p>${esc(p.staying)}</p>` : '') +
    acts.map((a) => `<details class="plan-action" data-action="${esc(a.action)}"><summary><strong>${esc(a.action)}</strong> ${esc(a.id)} <span class="muted">${esc(a.reason || '')}</span></summary>` +
      ((a.diff || []).map((d) => `<div class="diff"><code>${esc(d.path)}</code><pre><span class="old">- ${esc(fmt(d.old))}</span>\n<span class="new">+ ${esc(fmt(d.new))}</span></pre></div>`).join('') || '<p class="muted">no field diff</p>') +
      '</details>').join('');
});
function fmt(v) {
  return v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v);
}

// ---- Loading and the stream.

// loadResources reads the list. The stream's messages that come while it
// is read wait, and are applied after it: a message may be older than the
// list, never newer than the last message.
let listing = 0;
async function loadResources() {
  listing++;
  let list;
  try {
    list = await api('resources');
    if (!stats.listed) stats.listed = performance.now();
  } finally {
    listing--;
    if (!list && state.loaded && !listing) for (const [type, v] of state.pending.splice(0)) onMessage(type, v);
  }
  state.status = list;
  state.byId = new Map(list.resources.map((r) => [r.id, r]));
  for (const r of list.resources) notePhase(r.id, r.phase);
  fillSelect($('#f-kind'), [...new Set(list.resources.map((r) => r.kind))].sort());
  refilter(true);
  renderSummary();
  graphDirty = true;
  renderGraph();
  if (!state.loaded) {
    state.loaded = true;
    stats.firstPaint = performance.now();
    performance.mark('converge:first-paint');
    document.body.dataset.loaded = 'true';
  }
  if (!listing) for (const [type, v] of state.pending.splice(0)) onMessage(type, v);
}

async function loadEvents() {
  let evs;
  try { evs = await api('events?limit=100'); } catch { return; }
  for (const e of evs) addEvent(e);
}

function notePhase(id, phase) {
  const h = (stats.phases[id] ||= []);
  if (h[h.length - 1] !== phase) h.push(phase);
}

let followQueued = false;
function followUp() {
  // What can wait a frame: the filtered list, counts, the graph's layout.
  if (followQueued) return;
  followQueued = true;
  const run = () => {
    if (!followQueued) return;
    followQueued = false;
    refilter();
    renderSummary();
    renderGraph();
  };
  requestAnimationFrame(run);
  setTimeout(run, 200); // frames do not come in a hidden or throttled page
}

let detailTimer = 0;
function onMessage(type, v) {
  if ((!state.loaded || listing) && type !== 'reset') { state.pending.push([type, v]); return; }
  switch (type) {
    case 'resource': {
      const id = v.id;
      if (v.change === 'delete' || !v.resource) {
        state.byId.delete(id);
      } else {
        const old = state.byId.get(id);
        const r = { ...(old || {}), ...v.resource };
        if (!v.resource.nextRetry) delete r.nextRetry;
        if (!v.resource.lastError) delete r.lastError;
        r.drifted = r.phase === 'Drifted' || (r.conditions || []).some((c) => c.type === 'Drifted' && c.status === 'True');
        state.byId.set(id, r);
        notePhase(id, r.phase);
        // Repaint in place now: the row and the node.
        const tr = rowEls.get(id);
        if (tr) {
          tr.innerHTML = rowHTML(r);
          tr.classList.remove('flash');
          void tr.offsetWidth;
          tr.classList.add('flash');
        }
        if (!graph.update(id, r.phase)) graphDirty = true;
        if (!old) graphDirty = true;
      }
      stats.applied.push([v.seq, performance.timeOrigin + performance.now()]);
      if (stats.applied.length > 5000) stats.applied.splice(0, 1000);
      if (id === state.selected) {
        clearTimeout(detailTimer);
        detailTimer = setTimeout(() => loadDetail(), 100);
      }
      followUp();
      break;
    }
    case 'target':
      // A new target: the dependencies and labels change with it.
      loadResources().catch(() => {});
      loadRevisions();
      break;
    case 'event':
      addEvent(v);
      if (v.reason === 'RevisionConverged' || v.reason === 'RolledBack' || v.reason === 'RevisionFailed') loadRevisions();
      break;
    case 'reset':
      state.loaded = false;
      loadResources().catch(() => {});
      loadEvents();
      break;
  }
}

const conn = $('#conn');
const stream = new Stream('api/v1/stream', {
  status(st, text) {
    // Refused? Ask for the token (a 401 shows its form).
    if (st === 'down' && !state.loaded) api('revisions').catch(() => {});
    conn.dataset.state = st;
    conn.querySelector('.glyph').textContent = { live: '●', paused: '⏸', down: '✗' }[st] || '○';
    conn.querySelector('.text').textContent = text;
  },
  open() {
    stats.opens++;
    if (stats.opens === 1) stats.streamOpen = performance.now();
    // The first list is read once the stream stands: nothing between them
    // is missed.
    if (stats.opens === 1) {
      // The list first; the feed and the history once it is painted.
      loadResources()
        .catch((err) => { $('#summary').textContent = 'Cannot list the resources: ' + err.message; })
        .finally(() => { loadEvents(); loadRevisions(); });
    }
  },
  message: onMessage,
}, token);

$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem('converge-token', $('#token-input').value.trim());
  location.reload();
});

fillSelect($('#f-phase'), PHASES);
showTab((location.hash || '#resources').slice(1).replace(/[^a-z]/g, '') || 'resources');
stream.start();
