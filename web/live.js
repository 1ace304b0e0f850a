// Live updates: the gateway streams a watch RPC as Server-Sent Events (text/event-stream). They are
// read with fetch() rather than EventSource, because EventSource cannot send the Authorization
// header: the token goes the way it goes on every other call. The alternatives were worse: a token in
// the URL ends up in logs and history, a cookie would need CSRF defences for the whole API, and a
// separate watch ticket would be one more thing to issue and check. fetch() to our own origin is what
// the CSP's connect-src 'self' already allows.
//
// A stream that breaks is reopened with the id of the last event received (Last-Event-ID), so the
// server sends what was missed; one refused as unauthenticated (401, or the token expired while
// watching) ends, and the app's 'unauthenticated' handling takes over.

import { events } from './http.js';
import * as session from './session.js';

// Streams close as the page goes (reload, navigation): left open, they held the page's unload up
// (seen in Chrome: a reload stalled until its renderer timed out).
const leaving = new AbortController();
window.addEventListener('beforeunload', () => leaving.abort());
window.addEventListener('pagehide', () => leaving.abort());

const FIRST_RETRY_MS = 2000;
const LONGEST_RETRY_MS = 30000;

/** Events of one `event-stream` body: {event, id, data (parsed JSON)} objects, as the text arrives. */
async function* read(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: 'message', id: '', data: [] };
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon === 0) continue; // a comment: the server's heartbeat
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event.event = text;
        else if (field === 'id') event.id = text;
        else if (field === 'data') event.data.push(text);
      }
      if (event.data.length) yield { ...event, data: JSON.parse(event.data.join('\n')) };
    }
  }
}

/**
 * Watch `path` until `signal` aborts: onMessage(data) for every event. Reconnects after a break,
 * resuming after the last event id; waits longer after each failed attempt.
 */
export async function watch(path, onMessage, pageSignal) {
  const signal = AbortSignal.any([pageSignal, leaving.signal]);
  let lastId = '';
  let delay = FIRST_RETRY_MS;
  while (!signal.aborted && session.current()) {
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${session.token()}` };
    if (lastId) headers['Last-Event-ID'] = lastId;
    try {
      const response = await fetch(path, { headers, signal });
      if (response.status === 401) {
        events.dispatchEvent(new Event('unauthenticated'));
        return;
      }
      if (response.ok) {
        delay = FIRST_RETRY_MS;
        for await (const event of read(response.body)) {
          if (event.event === 'error') {
            if (event.data.code === 16) events.dispatchEvent(new Event('unauthenticated'));
            return;
          }
          if (event.id) lastId = event.id;
          onMessage(event.data);
        }
      }
    } catch (error) {
      if (error.name === 'AbortError') return;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, LONGEST_RETRY_MS);
  }
}
