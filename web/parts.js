// Pieces several pages share: links to people, the like button, thumbnail grids and lists that
// load more as you scroll.

import * as api from './api.js';
import { count, h, icon, nameOf } from './dom.js';
import { describe } from './errors.js';
import { avatarPicture, photoImage } from './images.js';
import * as session from './session.js';

/** A person's name and @username, linking to their profile. */
export function userLink(user, size = 'small') {
  if (!user) return h('span', { class: 'user-link' }, 'Someone');
  return h(
    'a',
    { class: 'user-link', href: `#/u/${encodeURIComponent(user.username)}` },
    avatarPicture(user, size),
    h('span', { class: 'user-names' }, h('strong', {}, nameOf(user)), h('span', { class: 'muted' }, `@${user.username}`)),
  );
}

/** Like/unlike in place: a toggle button (aria-pressed) and the count, both from the server's answer. */
export function likeButton(photoId, summary) {
  let liked = Boolean(summary.viewerHasLiked);
  let likes = Number(summary.likeCount || 0);
  const label = h('span', { class: 'like-count' });
  const problem = h('span', { class: 'inline-error', role: 'status' });
  const button = h('button', { type: 'button', class: 'icon-button like-button' }, icon('heart'), label);
  const draw = () => {
    button.setAttribute('aria-pressed', String(liked));
    button.setAttribute('aria-label', `${liked ? 'Unlike' : 'Like'} · ${count(likes, 'like', 'likes')}`);
    label.textContent = count(likes, 'like', 'likes');
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    problem.textContent = '';
    try {
      const me = session.me().userId;
      const answer = await (liked ? api.unlikePhoto(photoId, me) : api.likePhoto(photoId, me));
      liked = Boolean(answer.viewerHasLiked);
      likes = Number(answer.likeCount || 0);
      draw();
    } catch (error) {
      problem.textContent = describe(error);
    } finally {
      button.disabled = false;
    }
  });
  draw();
  return h('span', { class: 'like' }, button, problem);
}

/** A square thumbnail linking to the photo page (THUMBNAIL variant, 640 px at most). */
export function gridItem(photo) {
  const alt = photo.title || 'Untitled photo';
  return h(
    'li',
    {},
    h(
      'a',
      { href: `#/p/${photo.photoId}`, class: 'grid-link' },
      photoImage({ photoId: photo.photoId, variant: api.VARIANT.thumbnail, width: 640, height: 640, alt }),
    ),
  );
}

export function grid(label) {
  return h('ul', { class: 'grid', 'aria-label': label });
}

/**
 * A list that grows: `load(pageToken)` fetches a page and answers {nodes, next}; the nodes go at
 * the end of `list`. The next page loads when the "more" button nears the screen, or when it is
 * pressed (keyboards and screen readers). The first page's failure is thrown to the caller.
 */
export async function paged({ list, load, signal, moreLabel = 'Load more' }) {
  const button = h('button', { type: 'button', class: 'button secondary' }, moreLabel);
  const status = h('p', { class: 'inline-error', role: 'status' });
  let token = '';
  let loading = false;
  const observer = new IntersectionObserver((entries) => entries[0]?.isIntersecting && more(false), {
    rootMargin: '400px 0px',
  });
  signal.addEventListener('abort', () => observer.disconnect());

  async function more(first) {
    if (loading || signal.aborted) return;
    loading = true;
    button.disabled = true;
    status.textContent = '';
    observer.unobserve(button);
    try {
      const page = await load(token);
      list.append(...page.nodes);
      token = page.next || '';
    } catch (error) {
      if (first) throw error;
      status.textContent = describe(error);
      return;
    } finally {
      loading = false;
      button.disabled = false;
    }
    button.hidden = !token;
    // Observing again reports at once whether the button is still in view: then the next page loads too.
    if (token && !signal.aborted) observer.observe(button);
  }

  button.addEventListener('click', () => more(false));
  await more(true);
  return h('div', { class: 'pager' }, button, status);
}
