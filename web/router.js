// Pages live in the URL's hash (#/p/123, #/search?tag=sea): the gateway serves one page at /,
// so every address works on reload and needs no route on the server.
//
// A page is an object {render(view), public?} where view = {main, params, query, signal}. It
// draws into `main`, a fresh element that replaces the page on screen only once drawing is done
// and only if the person is still on that page: a late answer can never land on the next page.
// `signal` aborts when the person leaves, cancelling the page's requests. Only `public` pages
// show without a session; any other sends you to sign in, then back to where you were.

import { h } from './dom.js';
import { describe } from './errors.js';
import * as session from './session.js';

const routes = [];
let controller = null;
let onChange = () => {};
let first = true;

/** pattern: '/p/:id' style; `:name` segments become view.params.name. */
export function route(pattern, page) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return '([^/]+)';
  });
  routes.push({ regex: new RegExp(`^${source}$`), names, page });
}

/** The current location, '#/…' included; what sign-in comes back to. */
export function here() {
  return location.hash.startsWith('#/') ? location.hash : '#/';
}

export function go(hash) {
  controller?.abort(); // whatever the current page is still doing, it is no longer wanted
  if (location.hash === hash) render();
  else location.hash = hash;
}

/** Sign in, then come back here. */
export function signInAndReturn() {
  const back = here();
  go(back.startsWith('#/signin') || back.startsWith('#/signup') ? back : `#/signin?next=${encodeURIComponent(back)}`);
}

/** Where `?next=` says to go after signing in, if it is a page of this app. */
export function nextPage(query) {
  const next = query.get('next') || '';
  return next.startsWith('#/') ? next : '#/';
}

function parse(hash) {
  const [path, search = ''] = hash.slice(1).split('?');
  return { path: path || '/', query: new URLSearchParams(search) };
}

/** Draw the page the hash names; runs on every hash change and on "Try again". */
export async function render() {
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  const { path, query } = parse(here());
  const found = routes.find((r) => r.regex.test(path)) ?? routes.find((r) => r.regex.test('/404'));
  const values = path.match(found.regex).slice(1).map(decodeURIComponent);
  const params = Object.fromEntries(found.names.map((name, i) => [name, values[i]]));
  if (!found.page.public && !session.current()) {
    signInAndReturn();
    return;
  }
  const screen = document.getElementById('main');
  onChange(path);
  screen.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  screen.setAttribute('aria-busy', 'true');
  window.scrollTo(0, 0);
  const main = h('div', { class: 'page' });
  try {
    await found.page.render({ main, params, query, signal });
  } catch (error) {
    if (error.name !== 'AbortError') failed(main, error);
  }
  if (signal.aborted) return;
  screen.replaceChildren(main);
  screen.removeAttribute('aria-busy');
  const heading = main.querySelector('h1');
  document.title = heading ? `${heading.textContent} · Shutter` : 'Shutter';
  // After the first page, arriving somewhere moves focus to its heading (screen readers start there).
  if (heading && !first) heading.focus({ preventScroll: true });
  first = false;
}

/**
 * A page that could not load says why, in plain words, with a way to try again (when Shutter
 * cannot be reached, the banner above already offers one).
 */
function failed(main, error) {
  if (error.status === undefined) console.error(error);
  const banner = error.status === 0 || error.status === 503;
  main.replaceChildren(
    h(
      'div',
      { class: 'column' },
      h('h1', { tabindex: '-1' }, 'This page didn’t load'),
      h('p', {}, describe(error)),
      banner ? null : h('button', { type: 'button', class: 'button', onclick: render }, 'Try again'),
    ),
  );
}

/** Start listening; `changed(path)` runs before each page is drawn (the header's current link). */
export function start(changed) {
  onChange = changed;
  window.addEventListener('hashchange', () => {
    if (location.hash.startsWith('#/') || location.hash === '') render();
  });
  render();
}
