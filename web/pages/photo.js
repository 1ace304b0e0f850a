// One photo: the DISPLAY variant, its likes and comments (oldest first, "more" for the rest),
// a comment box, and delete buttons for what is yours.
//
// The view answers even when Like or Comment is down, listing them in `unavailableParts`: the
// photo still shows, with "likes unavailable right now" where the button would be.

import * as api from '../api.js';
import { count, fill, h, heading, icon, when } from '../dom.js';
import { clearErrors, describe, showErrors } from '../errors.js';
import { busy, field, formStatus } from '../forms.js';
import { captionText, postImages, postTags } from '../post.js';
import { commentLikeButton, commentLikes, placeComment, replyTarget } from '../threads.js';
import { likeButton, userLink } from '../parts.js';
import { go } from '../router.js';
import * as session from '../session.js';

const LIKES = 'VIEW_PART_LIKES';
const COMMENTS = 'VIEW_PART_COMMENTS';

export const photoPage = {
  async render({ main, params, signal }) {
    const me = session.me();
    let view;
    try {
      view = await api.viewPhoto(params.id, me.userId, signal);
    } catch (error) {
      if (![400, 403, 404].includes(error.status)) throw error; // the router offers "Try again"
      fill(main, h('div', { class: 'column' }, heading('Photo not available'), h('p', {}, describe(error))));
      return;
    }
    const photo = view.photo;
    const unavailable = new Set(view.unavailableParts || []);
    const comments = view.comments || [];
    const people = new Map();
    await learnPeople(people, [photo.userId, ...comments.map((c) => c.userId)], signal);
    const isOwner = photo.userId === me.userId;

    const commentList = h('ol', { class: 'comments' });
    const section = unavailable.has(COMMENTS)
      ? h('section', { class: 'comments-section' }, h('h2', {}, 'Comments'), h('p', { class: 'note' }, 'Comments unavailable right now.'))
      : await commentsSection({ photo, view, people, commentList, isOwner, signal });

    fill(
      main,
      h(
        'article',
        { class: 'photo-page' },
        h(
          'div',
          { class: 'photo-frame' },
          postImages(photo, { eager: true }),
        ),
        h(
          'div',
          { class: 'photo-side' },
          h('header', { class: 'post-head' }, userLink(people.get(photo.userId)), when(photo.createdAt)),
          heading(photo.title || 'Untitled photo'),
          captionText(photo.caption),
          photo.location ? h('p', { class: 'location' }, icon('pin'), photo.location) : null,
          postTags(photo),
          h(
            'div',
            { class: 'post-actions' },
            unavailable.has(LIKES)
              ? h('p', { class: 'note' }, 'Likes unavailable right now.')
              : likeButton(photo.photoId, view),
            isOwner ? h('a', { href: `#/p/${photo.photoId}/edit`, class: 'button secondary small' }, 'Edit post') : null,
            isOwner ? deletePhotoButton(photo) : null,
          ),
          section,
        ),
      ),
    );
  },
};

async function learnPeople(people, ids, signal) {
  const missing = [...new Set(ids)].filter((id) => !people.has(id));
  for (const user of await api.batchGetUsers(missing, signal)) people.set(user.userId, user);
}

function deletePhotoButton(photo) {
  const problem = h('span', { class: 'inline-error', role: 'status' });
  const button = h('button', { type: 'button', class: 'button danger small' }, 'Delete photo');
  button.addEventListener('click', async () => {
    if (!confirm('Delete this photo for good? Its likes and comments go with it.')) return;
    button.disabled = true;
    try {
      await api.deletePhoto(photo.photoId);
      go(`#/u/${encodeURIComponent(session.me().username)}`);
    } catch (error) {
      problem.textContent = describe(error);
      button.disabled = false;
    }
  });
  return h('span', { class: 'owner-actions' }, button, problem);
}

async function commentsSection({ photo, view, people, commentList, isOwner, signal }) {
  const me = session.me();
  const total = { value: Number(view.commentCount || 0) };
  const title = h('h2', { id: 'comments-title' }, count(total.value, 'comment', 'comments'));
  const recount = (delta) => {
    total.value += delta;
    title.textContent = count(total.value, 'comment', 'comments');
  };
  // A comment posted here shows at once, and is not shown again when "More comments" reaches it.
  const shown = new Set();
  const replying = replyTarget();
  let likes = new Map();
  const item = (comment) => {
    shown.add(comment.commentId);
    const li = commentItem(comment, people, photo, isOwner || comment.userId === me.userId, recount);
    li.querySelector('.comment-head').append(
      commentLikeButton(photo.photoId, comment.commentId, likes.get(comment.commentId)),
      replyButton(comment, people, replying, commentList),
    );
    const thread = comment.parentId && comment.parentId !== '0' ? comment.parentId : comment.commentId;
    li.dataset.thread = thread;
    if (thread !== comment.commentId) li.classList.add('reply');
    return li;
  };
  const place = (li) => placeComment(commentList, li);
  const unseen = (list) => (list || []).filter((comment) => !shown.has(comment.commentId));
  const appendPage = async (list) => {
    const fresh = unseen(list);
    likes = await commentLikes(photo.photoId, fresh.map((c) => c.commentId), signal);
    fresh.map(item).forEach(place);
  };
  await appendPage(view.comments);

  let token = view.commentsNextPageToken || '';
  const more = h('button', { type: 'button', class: 'button secondary small', hidden: !token }, 'More comments');
  const moreStatus = h('span', { class: 'inline-error', role: 'status' });
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const page = await api.listComments(photo.photoId, token, signal);
      await learnPeople(people, (page.comments || []).map((c) => c.userId), signal);
      await appendPage(page.comments);
      token = page.nextPageToken || '';
      more.hidden = !token;
    } catch (error) {
      moreStatus.textContent = describe(error);
    } finally {
      more.disabled = false;
    }
  });

  const form = h(
    'form',
    { class: 'comment-form', novalidate: true },
    replying.line,
    field({ name: 'text', label: 'Add a comment', errorLabel: 'Your comment', control: 'textarea', rows: 2, required: true, errorNames: ['reply_to'] }),
    formStatus(),
    h('button', { type: 'submit', class: 'button small' }, 'Post'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = form.elements.text.value;
    await busy(form, 'Posting…', async () => {
      try {
        const comment = replying.comment
          ? await api.replyToComment(photo.photoId, me.userId, text, replying.comment.commentId)
          : await api.postComment(photo.photoId, me.userId, text);
        replying.clear();
        people.set(me.userId, me);
        place(item(comment));
        recount(1);
        form.reset();
        clearErrors(form);
        form.querySelector('.form-status').textContent = 'Comment posted.';
      } catch (error) {
        showErrors(form, error);
      }
    });
  });

  return h(
    'section',
    { class: 'comments-section', 'aria-labelledby': 'comments-title' },
    title,
    commentList,
    h('p', {}, more, moreStatus),
    form,
  );
}

/** "Reply": the comment form answers this comment's thread (the form is below the list). */
function replyButton(comment, people, replying, commentList) {
  const button = h('button', { type: 'button', class: 'link-button' }, 'Reply');
  button.addEventListener('click', () => {
    replying.set(comment, people.get(comment.userId)?.username || 'someone');
    commentList.parentElement.querySelector('.comment-form textarea')?.focus();
  });
  return button;
}

function commentItem(comment, people, photo, canDelete, recount) {
  const problem = h('span', { class: 'inline-error', role: 'status' });
  const remove = canDelete
    ? h('button', { type: 'button', class: 'link-button', 'aria-label': 'Delete this comment' }, 'Delete')
    : null;
  const li = h(
    'li',
    { class: 'comment' },
    h('div', { class: 'comment-head' }, userLink(people.get(comment.userId)), when(comment.createdAt), remove),
    h('p', { class: 'comment-text' }, comment.text),
    problem,
  );
  remove?.addEventListener('click', async () => {
    if (!confirm('Delete this comment?')) return;
    remove.disabled = true;
    try {
      await api.deleteComment(photo.photoId, comment.commentId);
      li.remove();
      recount(-1);
    } catch (error) {
      problem.textContent = describe(error);
      remove.disabled = false;
    }
  });
  return li;
}
