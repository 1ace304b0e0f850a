// Photos need the bearer token, and <img src> cannot send one: each photo is fetched with the
// token once it comes near the screen, then shown through an object URL. The browser's HTTP
// cache keeps the bytes (the gateway marks them private, immutable, with an ETag), so going back
// to a page does not download them again. Every <img> gets its width and height up front, so
// nothing moves when the bytes arrive.

import { contentPath } from './api.js';
import { avatar, h } from './dom.js';
import { getBlob } from './http.js';

const urls = new Set();
let generation = 0;

const observer = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) {
        observer.unobserve(entry.target);
        load(entry.target, generation);
      }
    }
  },
  { rootMargin: '600px 0px' },
);

async function load(img, started) {
  try {
    const blob = await getBlob(contentPath(img.dataset.photoId, img.dataset.variant, img.dataset.mediaId));
    if (started !== generation) return; // the page it was on is gone
    const url = URL.createObjectURL(blob);
    urls.add(url);
    img.src = url;
  } catch {
    if (started === generation) img.classList.add('missing');
  }
}

/**
 * An <img> for one variant of a photo (THUMBNAIL in grids, DISPLAY on its own: never ORIGINAL).
 * width/height: the photo's own, so the browser reserves its shape before the bytes come.
 */
export function photoImage({ photoId, mediaId, variant, width, height, alt, color, className = '', eager = false }) {
  const img = h('img', {
    class: `photo ${className}`,
    alt,
    width: width || 1,
    height: height || 1,
    decoding: 'async',
    'data-photo-id': photoId,
    'data-media-id': mediaId,
    'data-variant': variant,
  });
  // The image's dominant colour fills its box until the bytes come (through CSSOM: the CSP allows no inline style).
  if (color && /^#[0-9a-f]{6}$/.test(color)) img.style.backgroundColor = color;
  if (eager) load(img, generation);
  else observer.observe(img);
  return img;
}

/** Called on every page change: stop watching the old page's images and free their memory. */
export function releaseAll() {
  generation += 1;
  observer.disconnect();
  for (const url of urls) URL.revokeObjectURL(url);
  urls.clear();
}

/**
 * A person's round badge: their profile picture when they have one (the 150 px square for lists, the
 * 320 px one for a profile's header), drawn over their initial, which shows until the bytes come.
 */
export function avatarPicture(user, size = 'small') {
  const badge = avatar(user, size);
  const path = size === 'large' ? user?.avatarUrl : user?.avatarSmallUrl;
  if (!path) return badge;
  const img = h('img', { class: 'avatar-picture', alt: '', width: 1, height: 1, decoding: 'async' });
  const started = generation;
  getBlob(path)
    .then((blob) => {
      if (started !== generation) return;
      const url = URL.createObjectURL(blob);
      urls.add(url);
      img.src = url;
    })
    .catch(() => img.remove());
  badge.append(img);
  return badge;
}
