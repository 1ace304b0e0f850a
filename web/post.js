// What a post shows besides its comments: its images (an album scrolls sideways, one image per
// swipe on a phone: CSS scroll-snap, no script), each with its own alt text, and its caption with
// #hashtags linked to their search and @mentions linked to the profile.

import * as api from './api.js';
import { h } from './dom.js';
import { photoImage } from './images.js';

/** The post's images: one <img>, or a swipeable list of them with "1 / 3" counters. */
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
  return h(
    'ul',
    // Focusable, so a keyboard scrolls it with the arrow keys as a finger swipes it.
    { class: 'album', tabindex: '0', 'aria-label': `Album of ${images.length} images` },
    images.map((image, index) =>
      h('li', { class: 'album-item' }, one(image), h('span', { class: 'album-count' }, `${index + 1} / ${images.length}`)),
    ),
  );
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
