// Comment threads: replies one level deep (a reply to a reply joins its top comment's thread, as the
// service does), and a like button per comment whose count and state come from one batch call a page.

import * as api from './api.js';
import { count, h, icon } from './dom.js';
import { describe } from './errors.js';

/** Like state for the comments shown: commentId → {likeCount, viewerHasLiked}; empty when the call fails. */
export async function commentLikes(photoId, commentIds, signal) {
  if (!commentIds.length) return new Map();
  try {
    const likes = await api.batchGetCommentLikes(photoId, commentIds, signal);
    return new Map(likes.map((entry) => [entry.commentId, entry]));
  } catch {
    return new Map();
  }
}

/** A toggle (aria-pressed) with the comment's like count, both from the server's answer. */
export function commentLikeButton(photoId, commentId, state) {
  let liked = Boolean(state?.viewerHasLiked);
  let likes = Number(state?.likeCount || 0);
  const label = h('span', { class: 'like-count' });
  const problem = h('span', { class: 'inline-error', role: 'status' });
  const button = h('button', { type: 'button', class: 'link-button comment-like' }, icon('heart'), label);
  const draw = () => {
    button.setAttribute('aria-pressed', String(liked));
    button.setAttribute('aria-label', `${liked ? 'Unlike' : 'Like'} this comment · ${count(likes, 'like', 'likes')}`);
    label.textContent = String(likes);
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    problem.textContent = '';
    try {
      const answer = await (liked ? api.unlikeComment(photoId, commentId) : api.likeComment(photoId, commentId));
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
  return h('span', { class: 'comment-like-wrap' }, button, problem);
}

/** The comment form's "Replying to @name · Cancel" line; `target` holds the comment replied to. */
export function replyTarget() {
  const target = { comment: null };
  const text = h('span', {});
  const cancel = h('button', { type: 'button', class: 'link-button' }, 'Cancel reply');
  const line = h('p', { class: 'replying', hidden: true }, text, ' ', cancel);
  target.set = (comment, name) => {
    target.comment = comment;
    text.textContent = `Replying to @${name}`;
    line.hidden = false;
  };
  target.clear = () => {
    target.comment = null;
    line.hidden = true;
  };
  cancel.addEventListener('click', () => target.clear());
  target.line = line;
  return target;
}

/**
 * Put a comment's <li> (data-thread: its top comment's id; class "reply" unless it is the top) in the list: a
 * reply at the end of its thread, under its top comment, wherever the listing put it. A top comment is older
 * than its replies, so it is listed first; a reply whose top is not there answered a deleted comment, and is
 * not indented under whichever comment happens to come last: it stands apart, saying so.
 */
export function placeComment(list, li) {
  const thread = [...list.querySelectorAll(`li[data-thread="${li.dataset.thread}"]`)];
  const isTop = (other) => !other.classList.contains('reply') && !other.classList.contains('orphan-reply');
  if (li.classList.contains('reply') && !thread.some(isTop)) {
    li.classList.replace('reply', 'orphan-reply');
    li.prepend(h('p', { class: 'reply-note' }, 'Reply to a deleted comment'));
  }
  if (thread.length) thread[thread.length - 1].after(li);
  else list.append(li);
}
