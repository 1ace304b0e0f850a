// The app-wide notice under the header: the gateway is unreachable or a service is down (with a
// way to try again), or requests are coming too fast (with how long to wait).

import { fill, h } from './dom.js';
import { tryAgainIn } from './errors.js';

const banner = () => document.getElementById('banner');
let countdown = null;

export function hide() {
  clearInterval(countdown);
  banner().hidden = true;
  fill(banner());
}

/** retry: what the "Try again" button does (reload the current page's data). */
export function showUnavailable(retry) {
  clearInterval(countdown);
  const message = navigator.onLine
    ? 'Shutter can’t be reached right now. Some things may not load.'
    : 'You’re offline. Shutter will work again when you’re back online.';
  fill(
    banner(),
    h('p', {}, message),
    h('button', { type: 'button', class: 'button small', onclick: () => { hide(); retry(); } }, 'Try again'),
  );
  banner().className = 'banner banner-warning';
  banner().hidden = false;
}

/** 429: says when to try again, counting down when the gateway told us how long. */
export function showThrottled(seconds) {
  clearInterval(countdown);
  let left = seconds;
  const text = h('p', {}, tryAgainIn(left));
  fill(banner(), text);
  banner().className = 'banner banner-warning';
  banner().hidden = false;
  if (left === null || left === undefined) return;
  countdown = setInterval(() => {
    left -= 1;
    if (left <= 0) hide();
    else text.textContent = tryAgainIn(left);
  }, 1000);
}
