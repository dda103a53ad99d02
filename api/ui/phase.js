// Phases as the page shows them: a glyph and the phase's name always, a
// colour class besides, so that no status is told by colour alone.

const META = {
  Ready: { glyph: '✓', cls: 'p-ok' },
  Pending: { glyph: '○', cls: 'p-wait' },
  Waiting: { glyph: '…', cls: 'p-wait' },
  Creating: { glyph: '+', cls: 'p-busy' },
  Updating: { glyph: '↻', cls: 'p-busy' },
  Replacing: { glyph: '⇄', cls: 'p-busy' },
  Deleting: { glyph: '−', cls: 'p-busy' },
  Drifted: { glyph: '≠', cls: 'p-drift' },
  Error: { glyph: '!', cls: 'p-err' },
  Failed: { glyph: '✗', cls: 'p-fail' },
};

export const PHASES = Object.keys(META);

export function phaseMeta(phase) {
  return META[phase] || { glyph: '?', cls: 'p-wait' };
}

// phaseHTML is a phase badge.
export function phaseHTML(phase) {
  const m = phaseMeta(phase);
  return `<span class="phase ${m.cls}" data-phase="${esc(phase)}"><span class="glyph" aria-hidden="true">${m.glyph}</span>${esc(phase)}</span>`;
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
}

export function short(hash) {
  return (hash || '').slice(0, 12);
}

// ago says how long ago t (an RFC 3339 time) was, briefly.
export function ago(t, now = Date.now()) {
  if (!t || t.startsWith('0001-')) return '';
  const s = Math.max(0, Math.round((now - Date.parse(t)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function clock(t) {
  if (!t || t.startsWith('0001-')) return '';
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false });
}
