// The dependency graph: a layered layout computed here from the resources'
// dependencies, drawn as SVG. A resource stands one layer to the right of
// the deepest of its dependencies; within a layer, resources are ordered by
// the mean position of their dependencies (one barycentre sweep), which
// keeps most edges short. Above a threshold the nodes are grouped by layer
// and kind, and Ready subtrees can be collapsed into their root.

import { phaseMeta, esc } from './phase.js';

const NODE_W = 200, NODE_H = 26, COL_GAP = 70, ROW_GAP = 10, PAD = 16;
const GROUP_ABOVE = 300;

// layers returns, for every resource ID, its layer: 0 without dependencies
// (among the resources given), else one more than its deepest dependency.
// A cycle (which the manifests forbid) is broken where it is met.
export function layers(byId) {
  const depth = new Map();
  const onPath = new Set();
  for (const start of byId.keys()) {
    if (depth.has(start)) continue;
    // Iterative depth-first walk: no recursion limit at 5,000 resources.
    const stack = [[start, 0]];
    onPath.add(start);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [id, i] = top;
      const deps = (byId.get(id).deps || []).filter((d) => byId.has(d));
      if (i < deps.length) {
        top[1]++;
        const d = deps[i];
        if (!depth.has(d) && !onPath.has(d)) {
          onPath.add(d);
          stack.push([d, 0]);
        }
        continue;
      }
      let l = 0;
      for (const d of deps) if (depth.has(d)) l = Math.max(l, depth.get(d) + 1);
      depth.set(id, l);
      onPath.delete(id);
      stack.pop();
    }
  }
  return depth;
}

// collapsed returns what collapsing Ready subtrees hides. A resource's
// subtree is what depends on it, transitively (what stands to its right).
// When a resource and its whole subtree are Ready, the subtree folds into
// it: hidden are the Ready-through resources that depend on another one;
// under counts, for each resource left standing, how many it folds.
export function collapsed(byId) {
  const dependents = new Map();
  for (const [id, r] of byId) {
    for (const d of r.deps || []) if (byId.has(d)) (dependents.get(d) || dependents.set(d, []).get(d)).push(id);
  }
  const depthOf = layers(byId);
  const order = [...byId.keys()].sort((a, b) => depthOf.get(b) - depthOf.get(a)); // deepest first
  const readyDown = new Map();
  for (const id of order) {
    let ok = byId.get(id).phase === 'Ready';
    for (const x of dependents.get(id) || []) if (!readyDown.get(x)) ok = false;
    readyDown.set(id, ok);
  }
  const hidden = new Set();
  for (const [id, r] of byId) {
    if (readyDown.get(id) && (r.deps || []).some((d) => readyDown.get(d))) hidden.add(id);
  }
  const under = new Map();
  for (const id of byId.keys()) {
    if (!readyDown.get(id) || hidden.has(id)) continue;
    const seen = new Set();
    const todo = [...(dependents.get(id) || [])];
    while (todo.length) {
      const x = todo.pop();
      if (seen.has(x)) continue;
      seen.add(x);
      todo.push(...(dependents.get(x) || []));
    }
    if (seen.size) under.set(id, seen.size);
  }
  return { hidden, under };
}

// place orders each layer by the barycentre of the nodes' dependencies and
// returns the nodes' positions.
function place(nodes, layerOf, depsOf) {
  const cols = [];
  for (const n of nodes) (cols[layerOf(n)] ||= []).push(n);
  const row = new Map();
  for (let c = 0; c < cols.length; c++) {
    const col = cols[c] || [];
    if (c > 0) {
      const key = new Map();
      for (const n of col) {
        const ds = depsOf(n).filter((d) => row.has(d));
        key.set(n, ds.length ? ds.reduce((s, d) => s + row.get(d), 0) / ds.length : Infinity);
      }
      col.sort((a, b) => key.get(a) - key.get(b) || (a < b ? -1 : 1));
    }
    col.forEach((n, i) => row.set(n, i));
  }
  const pos = new Map();
  let height = 0;
  cols.forEach((col, c) => (col || []).forEach((n, i) => {
    pos.set(n, { x: PAD + c * (NODE_W + COL_GAP), y: PAD + i * (NODE_H + ROW_GAP) });
    height = Math.max(height, PAD * 2 + (i + 1) * (NODE_H + ROW_GAP));
  }));
  return { pos, width: PAD * 2 + cols.length * (NODE_W + COL_GAP), height };
}

function edgePath(a, b) {
  const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
  const mx = (x1 + x2) / 2;
  return `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
}

function label(s, max) {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

// worst returns the phase that a group shows: the least healthy of its
// members.
const rank = { fail: 6, err: 5, drift: 4, busy: 3, wait: 2, ok: 1 };
function worst(phases) {
  let best = 'Ready', r = 0;
  for (const p of phases) {
    const x = rank[phaseMeta(p).cls] || 0;
    if (x > r) { r = x; best = p; }
  }
  return best;
}

// Graph draws into a container and updates single nodes in place.
export class Graph {
  constructor(el, onSelect) {
    this.el = el;
    this.onSelect = onSelect;
    this.nodes = new Map(); // resource ID -> its <g>, when drawn one by one
    this.grouped = false;
    el.addEventListener('click', (e) => this.activate(e.target));
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.activate(e.target); }
    });
  }

  activate(target) {
    const g = target.closest && target.closest('.node');
    if (!g) return;
    this.onSelect(g.dataset.id, g.dataset.kind);
  }

  // render draws byId (ID -> resource with deps and phase).
  render(byId, { mode = 'auto', collapse = false, selected = '' } = {}) {
    let shown = byId;
    let under = new Map();
    if (collapse) {
      const c = collapsed(byId);
      under = c.under;
      shown = new Map([...byId].filter(([id]) => !c.hidden.has(id)));
    }
    this.grouped = mode === 'kind' || (mode === 'auto' && shown.size > GROUP_ABOVE);
    const depth = layers(shown);
    const parts = [];
    let note = '';
    this.nodes.clear();
    let size;
    if (!this.grouped) {
      const ids = [...shown.keys()].sort();
      const depsOf = (id) => (shown.get(id).deps || []).filter((d) => shown.has(d));
      size = place(ids, (id) => depth.get(id), depsOf);
      for (const id of ids) for (const d of depsOf(id)) parts.push(`<path class="edge" d="${edgePath(size.pos.get(d), size.pos.get(id))}"/>`);
      for (const id of ids) {
        const r = shown.get(id), p = size.pos.get(id), m = phaseMeta(r.phase);
        const more = under.get(id) ? ` +${under.get(id)} Ready` : '';
        parts.push(`<g class="node ${m.cls}${id === selected ? ' selected' : ''}" data-id="${esc(id)}" transform="translate(${p.x},${p.y})" tabindex="0" role="button" aria-label="${esc(id)}: ${esc(r.phase)}${more}">` +
          `<title>${esc(id)}: ${esc(r.phase)}${esc(more)}</title><rect width="${NODE_W}" height="${NODE_H}"/>` +
          `<text class="glyph ${m.cls}" x="8" y="17" aria-hidden="true">${m.glyph}</text>` +
          `<text x="24" y="17">${esc(label(id + more, 28))}</text></g>`);
      }
      note = `${ids.length} resources` + (shown.size < byId.size ? `, ${byId.size - shown.size} Ready ones collapsed` : '');
    } else {
      // One node per layer and kind, with its members' phases counted.
      const groups = new Map();
      const groupOf = new Map();
      for (const [id, r] of shown) {
        const key = depth.get(id) + '|' + r.kind;
        if (!groups.has(key)) groups.set(key, { key, kind: r.kind, layer: depth.get(id), ids: [], phases: {} });
        const g = groups.get(key);
        g.ids.push(id);
        g.phases[r.phase] = (g.phases[r.phase] || 0) + 1;
        groupOf.set(id, key);
      }
      const deps = new Map();
      for (const [id, r] of shown) {
        const k = groupOf.get(id);
        for (const d of r.deps || []) {
          const dk = groupOf.get(d);
          if (dk && dk !== k) (deps.get(k) || deps.set(k, new Set()).get(k)).add(dk);
        }
      }
      const keys = [...groups.keys()].sort();
      size = place(keys, (k) => groups.get(k).layer, (k) => [...(deps.get(k) || [])]);
      for (const k of keys) for (const d of deps.get(k) || []) parts.push(`<path class="edge" d="${edgePath(size.pos.get(d), size.pos.get(k))}"/>`);
      for (const k of keys) {
        const g = groups.get(k), p = size.pos.get(k), ph = worst(Object.keys(g.phases)), m = phaseMeta(ph);
        const counts = Object.entries(g.phases).sort().map(([q, n]) => `${phaseMeta(q).glyph}${n}`).join(' ');
        const words = Object.entries(g.phases).sort().map(([q, n]) => `${n} ${q}`).join(', ');
        parts.push(`<g class="node ${m.cls}" data-kind="${esc(g.kind)}" data-group="${esc(k)}" transform="translate(${p.x},${p.y})" tabindex="0" role="button" aria-label="${g.ids.length} ${esc(g.kind)}: ${words}">` +
          `<title>${g.ids.length} × ${esc(g.kind)}: ${words}</title><rect width="${NODE_W}" height="${NODE_H}"/>` +
          `<text class="glyph ${m.cls}" x="8" y="17" aria-hidden="true">${m.glyph}</text>` +
          `<text x="24" y="17">${esc(label(`${g.kind} ×${g.ids.length} ${counts}`, 30))}</text></g>`);
      }
      note = `${shown.size} resources in ${keys.length} groups by layer and kind; select a group to list its resources`;
    }
    this.el.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${Math.max(size.height, 60)}" role="group" aria-label="Dependency graph">${parts.join('')}</svg>`;
    if (!this.grouped) for (const g of this.el.querySelectorAll('.node')) this.nodes.set(g.dataset.id, g);
    return note;
  }

  // update repaints one resource's node in place; false when it must be
  // drawn again (grouped, or not drawn).
  update(id, phase) {
    const g = this.nodes.get(id);
    if (!g) return false;
    const m = phaseMeta(phase);
    g.setAttribute('class', `node ${m.cls}${g.classList.contains('selected') ? ' selected' : ''}`);
    g.setAttribute('aria-label', `${id}: ${phase}`);
    g.querySelector('title').textContent = `${id}: ${phase}`;
    const glyph = g.querySelector('.glyph');
    glyph.setAttribute('class', `glyph ${m.cls}`);
    glyph.textContent = m.glyph;
    return true;
  }

  select(id) {
    for (const g of this.el.querySelectorAll('.node.selected')) g.classList.remove('selected');
    const g = this.nodes.get(id);
    if (g) g.classList.add('selected');
  }
}
