// What a post shows besides its comments: its images (an album scrolls sideways, one image per
// swipe on a phone: CSS scroll-snap, no script), each with its own alt text, its caption with
// #hashtags linked to their search and @mentions linked to the profile, and the rest of its tags.

import * as api from './api.js';
import { h } from './dom.js';
import { photoImage } from './images.js';

/**
 * The post's images: one <img>, or a swipeable list of them with "1 / 3" counters and Previous/Next
 * buttons (a mouse has no swipe, and the list's scrollbar is a small target).
 */
export function postImages(photo, { variant = api.VARIANT.display, eager = false } = {}) {
  const images = photo.images?.length ? photo.images : [{ mediaId: photo.photoId, width: photo.width, height: photo.height }];
  const fallback = photo.title || 'Untitled photo';
  const one = (image) =>
    photoImage({
      photoId: photo.photoId,
      mediaId: image.mediaId,
      variant,
      width: image.width,
      height: image.height,
      alt: image.altText || fallback,
      color: image.dominantColor,
      eager,
    });
  if (images.length === 1) return one(images[0]);
  const list = h(
    'ul',
    // Focusable, so a keyboard scrolls it with the arrow keys as a finger swipes it.
    { class: 'album', tabindex: '0', 'aria-label': `Album of ${images.length} images` },
    images.map((image, index) =>
      h('li', { class: 'album-item' }, one(image), h('span', { class: 'album-count' }, `${index + 1} / ${images.length}`)),
    ),
  );
  const previous = h('button', { type: 'button', class: 'album-step album-previous', 'aria-label': 'Previous image', disabled: true }, '‹');
  const next = h('button', { type: 'button', class: 'album-step album-next', 'aria-label': 'Next image' }, '›');
  const shown = () => Math.round(list.scrollLeft / Math.max(list.clientWidth, 1));
  // One image per step; scroll-snap settles it, and the scroll event updates the buttons.
  previous.addEventListener('click', () => list.scrollTo({ left: (shown() - 1) * list.clientWidth, behavior: 'smooth' }));
  next.addEventListener('click', () => list.scrollTo({ left: (shown() + 1) * list.clientWidth, behavior: 'smooth' }));
  list.addEventListener(
    'scroll',
    () => {
      previous.disabled = shown() <= 0;
      next.disabled = shown() >= images.length - 1;
    },
    { passive: true },
  );
  return h('div', { class: 'album-frame' }, list, previous, next);
}

// The same shapes the photo service parses (services/runtime/normalise.py): a tag is '#' then letters,
// digits, marks or '_' in any script, not glued to a word; a mention is '@' then a username.
const TOKENS = /(^|[^\p{L}\p{N}\p{M}_#])#([\p{L}\p{N}\p{M}_]+)|(^|[^\p{L}\p{N}\p{M}_.@])@([A-Za-z0-9_.]{3,30})(?![A-Za-z0-9_.])/gu;

/** The caption as text with links: #tag → its search, @name → the profile. Newlines are kept (CSS pre-line). */
export function captionText(caption) {
  if (!caption) return null;
  const parts = [];
  let last = 0;
  for (const match of caption.matchAll(TOKENS)) {
    const [whole, tagLead, tag, mentionLead, name] = match;
    const lead = tagLead ?? mentionLead ?? '';
    const start = match.index + lead.length;
    parts.push(caption.slice(last, start));
    if (tag !== undefined) {
      parts.push(h('a', { class: 'hashtag', href: `#/search?tag=${encodeURIComponent(tag)}` }, `#${tag}`));
    } else {
      const username = name.replace(/\.+$/, '');
      parts.push(h('a', { class: 'mention', href: `#/u/${encodeURIComponent(username)}` }, `@${username}`));
      parts.push(name.slice(username.length));
    }
    last = match.index + whole.length;
  }
  parts.push(caption.slice(last));
  return h('p', { class: 'caption' }, parts.filter(Boolean));
}

/**
 * A tag's key, as the service folds it (services/runtime/normalise.py tag_key): compatibility-composed,
 * lower-cased (with casefold's ß → ss and ς → σ), accents dropped, letters and digits only.
 */
function tagKey(tag) {
  return tag
    .normalize('NFKC')
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .replace(/ς/g, 'σ')
    .normalize('NFKD')
    .replace(/[^\p{L}\p{N}\p{Mc}\p{Me}]/gu, '')
    .normalize('NFC');
}

/** The keys of the caption's #hashtags (the service adds them to the post's tags). */
function captionTagKeys(caption) {
  const keys = new Set();
  for (const match of (caption || '').matchAll(TOKENS)) if (match[2] !== undefined) keys.add(tagKey(match[2]));
  return keys;
}

/** The post's tags its caption does not already show as #hashtags: each tag is shown once. */
export function tagsBesideCaption(photo) {
  const inCaption = captionTagKeys(photo.caption);
  return (photo.tags || []).filter((tag) => !inCaption.has(tagKey(tag)));
}

/** The tags list under the caption, each linking to its search; null when the caption shows them all. */
export function postTags(photo) {
  const tags = tagsBesideCaption(photo);
  if (!tags.length) return null;
  return h(
    'ul',
    { class: 'tags', 'aria-label': 'Tags' },
    tags.map((tag) => {
      const name = tag.replace(/^#+/, ''); // a tag posted through the API may carry its '#'
      return h('li', {}, h('a', { href: `#/search?tag=${encodeURIComponent(name)}` }, `#${name}`));
    }),
  );
}
