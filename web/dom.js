// Building the page: h() makes elements from plain values. Text always goes in as text nodes,
// never as HTML, so nothing a user typed can become markup.

/**
 * h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child, [more]) → HTMLAnchorElement.
 * Attributes: false/null/undefined are left out, true becomes an empty attribute, `on…` adds
 * a listener, anything else is set as a string.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...flatten(children));
  return element;
}

function flatten(children) {
  return children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false);
}

/** Replace everything inside `parent`. */
export function fill(parent, ...children) {
  parent.replaceChildren(...flatten(children));
  return parent;
}

// 24×24 outline icons; decorative (the button or link around them carries the words).
const ICONS = {
  home: 'M3 10.5 12 3l9 7.5V21h-6v-6H9v6H3z',
  search: 'M10.5 3a7.5 7.5 0 1 0 4.6 13.4L20 21.3l1.3-1.3-4.9-4.9A7.5 7.5 0 0 0 10.5 3zm0 2a5.5 5.5 0 1 1 0 11 5.5 5.5 0 0 1 0-11z',
  plus: 'M5 3h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm0 2v14h14V5zm6 2h2v4h4v2h-4v4h-2v-4H7v-2h4z',
  user: 'M12 3a4.5 4.5 0 1 1 0 9 4.5 4.5 0 0 1 0-9zm0 2a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5zm0 8c4.4 0 8 2.2 8 5.5V21H4v-2.5C4 15.2 7.6 13 12 13zm0 2c-3.3 0-6 1.5-6 3.5v.5h12v-.5c0-2-2.7-3.5-6-3.5z',
  heart: 'M12 20.3 10.6 19C5.4 14.4 2 11.3 2 7.5 2 4.4 4.4 2 7.5 2c1.7 0 3.4.8 4.5 2.1A6 6 0 0 1 16.5 2C19.6 2 22 4.4 22 7.5c0 3.8-3.4 6.9-8.6 11.5z',
  comment: 'M20.5 12a8.5 8.5 0 0 1-12.4 7.5L3.5 20.5l1.2-4.4A8.5 8.5 0 1 1 20.5 12z',
  bell: 'M12 2a6 6 0 0 1 6 6v4.6l2 3.4v1H4v-1l2-3.4V8a6 6 0 0 1 6-6zm0 2a4 4 0 0 0-4 4v5.1L6.9 15h10.2L16 13.1V8a4 4 0 0 0-4-4zm-2.5 15h5a2.5 2.5 0 0 1-5 0z',
  pin: 'M12 2a7 7 0 0 1 7 7c0 5.2-7 13-7 13S5 14.2 5 9a7 7 0 0 1 7-7zm0 4.5a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z',
};

export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon', `icon-${name}`);
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

const numbers = new Intl.NumberFormat();

/** '1 like', '2,048 likes'. */
export function count(n, one, many) {
  const value = Number(n || 0);
  return `${numbers.format(value)} ${value === 1 ? one : many}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const STEPS = [
  [60, 'second'],
  [60, 'minute'],
  [24, 'hour'],
  [7, 'day'],
  [4.35, 'week'],
  [12, 'month'],
  [Infinity, 'year'],
];

/** '5 minutes ago', for a protobuf Timestamp (RFC 3339 text). */
export function timeAgo(timestamp) {
  let amount = (Date.parse(timestamp) - Date.now()) / 1000;
  for (const [size, unit] of STEPS) {
    if (Math.abs(amount) < size) return relative.format(Math.round(amount), unit);
    amount /= size;
  }
  return '';
}

/** A <time> element showing how long ago, with the exact moment as its machine-readable value. */
export function when(timestamp) {
  return timestamp ? h('time', { datetime: timestamp, title: new Date(timestamp).toLocaleString() }, timeAgo(timestamp)) : null;
}

/** The name to show for a user: their display name, else their username. */
export function nameOf(user) {
  return user?.displayName || user?.username || 'Someone';
}

/** A round badge with the user's initial (images.avatarPicture puts the profile picture over it). */
export function avatar(user, size = 'small') {
  const initial = (nameOf(user)[0] || '?').toUpperCase();
  const hue = [...(user?.username || '')].reduce((sum, c) => sum + c.charCodeAt(0), 0) % 6;
  return h('span', { class: `avatar avatar-${size} hue-${hue}`, 'aria-hidden': 'true' }, initial);
}

/** The page's heading: names the browser tab, and takes focus when you arrive on the page. */
export function heading(text, ...rest) {
  return h('h1', { tabindex: '-1' }, text, ...rest);
}
