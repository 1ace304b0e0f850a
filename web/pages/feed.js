// Home: the photos of the people you follow, newest first, loading more as you scroll. While it is
// open, new posts are counted as the feed's live stream announces them ("3 new posts"); pressing the
// button shows them (the feed is read again from the top).
//
// A feed page lists ids only; the cards are filled from four batch calls made together (photos,
// authors, like summaries, comment counts). Likes and comments are extras: when their service
// does not answer, the cards still show, with a note instead of the counts.

import * as api from '../api.js';
import { count, fill, h, heading, icon, when } from '../dom.js';
import { captionText, postImages } from '../post.js';
import * as live from '../live.js';
import { likeButton, paged, userLink } from '../parts.js';
import { render } from '../router.js';
import * as session from '../session.js';

const byId = (items, key) => new Map((items || []).map((item) => [item[key], item]));

async function cards(items, me, signal) {
  const photoIds = items.map((item) => item.photoId);
  const authorIds = [...new Set(items.map((item) => item.authorId))];
  const [photos, authors, likes, comments] = await Promise.allSettled([
    api.batchGetPhotos(photoIds, signal),
    api.batchGetUsers(authorIds, signal),
    api.batchLikeSummaries(photoIds, me, signal),
    api.batchCommentCounts(photoIds, signal),
  ]);
  if (photos.status === 'rejected') throw photos.reason;
  const photoById = byId(photos.value, 'photoId');
  const authorById = byId(authors.value, 'userId');
  const likesById = likes.status === 'fulfilled' ? byId(likes.value, 'photoId') : null;
  const commentsById = comments.status === 'fulfilled' ? byId(comments.value, 'photoId') : null;
  return items
    .filter((item) => photoById.has(item.photoId)) // deleted since it was posted
    .map((item) =>
      card(photoById.get(item.photoId), authorById.get(item.authorId), item, likesById, commentsById),
    );
}

function card(photo, author, item, likesById, commentsById) {
  const titleId = `title-${photo.photoId}`;
  const summary = likesById?.get(photo.photoId);
  const comments = commentsById?.get(photo.photoId);
  return h(
    'article',
    { class: 'card post', 'aria-labelledby': titleId },
    h('header', { class: 'post-head' }, userLink(author), when(item.postedAt)),
    // An album swipes in place (a link around it would take the swipe for a tap).
    (photo.images?.length || 0) > 1
      ? postImages(photo)
      : h('a', { href: `#/p/${photo.photoId}`, class: 'post-photo', tabindex: '-1', 'aria-hidden': 'true' }, postImages(photo)),
    h(
      'div',
      { class: 'post-body' },
      h('h2', { class: 'post-title', id: titleId }, h('a', { href: `#/p/${photo.photoId}` }, photo.title || 'Untitled photo')),
      photo.location ? h('p', { class: 'location' }, icon('pin'), photo.location) : null,
      captionText(photo.caption),
      h(
        'div',
        { class: 'post-actions' },
        summary ? likeButton(photo.photoId, summary) : h('span', { class: 'note' }, 'Likes unavailable right now'),
        comments
          ? h('a', { href: `#/p/${photo.photoId}`, class: 'comment-link' }, icon('comment'), count(comments.commentCount, 'comment', 'comments'))
          : h('span', { class: 'note' }, 'Comments unavailable right now'),
      ),
    ),
  );
}

export const feedPage = {
  async render({ main, signal }) {
    const me = session.me().userId;
    const list = h('div', { class: 'feed' });
    const pager = await paged({
      list,
      signal,
      moreLabel: 'Older posts',
      load: async (token) => {
        const page = await api.getFeed(me, token, signal);
        return { nodes: await cards(page.items || [], me, signal), next: page.nextPageToken };
      },
    });
    const empty = h(
      'div',
      { class: 'empty card' },
      h('p', {}, 'No posts yet — ', h('a', { href: '#/search' }, 'find people to follow'), '.'),
      h('p', { class: 'muted' }, 'Photos from people you follow show up here, newest first.'),
    );
    const fresh = new Set();
    const announce = h('button', { type: 'button', class: 'button new-posts', hidden: true, onclick: render });
    const status = h('p', { class: 'visually-hidden', role: 'status' });
    live.watch(
      api.feedWatchPath(me),
      (update) => {
        if (!update.item) return; // a resync marker: the button below reloads the feed anyway
        fresh.add(update.item.photoId);
        announce.textContent = `Show ${count(fresh.size, 'new post', 'new posts')}`;
        announce.hidden = false;
        status.textContent = count(fresh.size, 'new post', 'new posts');
      },
      signal,
    );
    fill(
      main,
      h('div', { class: 'column' }, heading('Home'), announce, status, list.childElementCount ? [list, pager] : empty),
    );
  },
};
