// Photos need the bearer token, and <img src> cannot send one: each photo is fetched with the
// token once it comes near the screen, then shown through an object URL. The browser's HTTP
// cache keeps the bytes (the gateway marks them private, immutable, with an ETag), so going back
// to a page does not download them again. Every <img> gets its width and height up front, so
// nothing moves when the bytes arrive.

import { contentPath } from './api.js';
import { h } from './dom.js';
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
    const blob = await getBlob(contentPath(img.dataset.photoId, img.dataset.variant));
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
export function photoImage({ photoId, variant, width, height, alt, className = '', eager = false }) {
  const img = h('img', {
    class: `photo ${className}`,
    alt,
    width: width || 1,
    height: height || 1,
    decoding: 'async',
    'data-photo-id': photoId,
    'data-variant': variant,
  });
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
