// The one stream a tab opens (GET /api/v1/stream), kept open while the tab
// is visible:
//   - EventSource resumes by itself after a drop, sending Last-Event-ID;
//     when it gives up (an answer that is not a stream), the page opens it
//     again with an exponential backoff (1 s doubling to 60 s), so a tab
//     never floods the server with reconnects.
//   - A hidden tab closes its stream; visible again, it opens one from
//     the last id it saw (?lastEventId=), missing nothing.
//   - With an API token, EventSource cannot send the Authorization header:
//     the stream is read with fetch instead, with the same resumption.

const MAX_BACKOFF = 60000;

export class Stream {
  // handlers: {open(), status(state, text), message(type, data, id)}
  constructor(url, handlers, token = () => '') {
    this.url = url;
    this.h = handlers;
    this.token = token;
    this.lastId = '';
    this.backoff = 1000;
    this.src = null;
    this.abort = null;
    this.timer = 0;
    document.addEventListener('visibilitychange', () => this.visibility());
  }

  start() {
    if (document.visibilityState === 'hidden') {
      this.h.status('paused', 'paused while the tab is hidden');
      return;
    }
    this.open();
  }

  visibility() {
    if (document.visibilityState === 'hidden') {
      this.close();
      this.h.status('paused', 'paused while the tab is hidden');
    } else if (!this.src && !this.abort) {
      clearTimeout(this.timer);
      this.open();
    }
  }

  close() {
    clearTimeout(this.timer);
    if (this.src) { this.src.close(); this.src = null; }
    if (this.abort) { this.abort.abort(); this.abort = null; }
  }

  resumeURL() {
    return this.url + (this.lastId ? '?lastEventId=' + encodeURIComponent(this.lastId) : '');
  }

  retryLater() {
    this.close();
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF);
    this.h.status('down', `disconnected; trying again in ${Math.round(wait / 1000)}s`);
    this.timer = setTimeout(() => this.open(), wait);
  }

  deliver(type, data, id) {
    if (id) this.lastId = id;
    let v;
    try { v = JSON.parse(data); } catch { return; }
    this.h.message(type, v, id);
  }

  open() {
    this.h.status('connecting', 'connecting');
    if (this.token()) { this.openFetch(); return; }
    const src = new EventSource(this.resumeURL());
    this.src = src;
    src.onopen = () => { this.backoff = 1000; this.h.status('live', 'live'); this.h.open(); };
    src.onerror = () => {
      if (src.readyState === EventSource.CLOSED) this.retryLater();
      else this.h.status('reconnecting', 'reconnecting');
    };
    for (const type of ['resource', 'target', 'event', 'reset']) {
      src.addEventListener(type, (e) => this.deliver(type, e.data, e.lastEventId));
    }
  }

  // openFetch reads the stream with fetch, as EventSource would.
  async openFetch() {
    const abort = new AbortController();
    this.abort = abort;
    let retry = 2000;
    try {
      const headers = { Authorization: 'Bearer ' + this.token(), Accept: 'text/event-stream' };
      if (this.lastId) headers['Last-Event-ID'] = this.lastId;
      const resp = await fetch(this.url, { headers, signal: abort.signal, cache: 'no-store' });
      if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
      this.backoff = 1000;
      this.h.status('live', 'live');
      this.h.open();
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '', type = '', data = [], id = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).replace(/\r$/, '');
          buf = buf.slice(i + 1);
          if (line === '') {
            if (data.length) this.deliver(type || 'message', data.join('\n'), id);
            type = ''; data = [];
            continue;
          }
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'event') type = v;
          else if (field === 'data') data.push(v);
          else if (field === 'id') id = v;
          else if (field === 'retry' && /^\d+$/.test(v)) retry = +v;
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return;
      if (this.abort === abort) { this.abort = null; this.retryLater(); }
      return;
    }
    if (this.abort !== abort) return;
    this.abort = null;
    this.h.status('reconnecting', 'reconnecting');
    this.timer = setTimeout(() => this.open(), retry);
  }
}
