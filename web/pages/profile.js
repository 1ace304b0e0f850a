// A person's profile: name, bio, follower and following counts (each a link to the list), a
// follow button (or, on your own, "Edit profile" and "Sign out"), and their photos as a grid.

import * as api from '../api.js';
import { count, fill, h, heading, nameOf } from '../dom.js';
import { describe } from '../errors.js';
import { avatarPicture } from '../images.js';
import { grid, gridItem, paged, userLink } from '../parts.js';
import { go } from '../router.js';
import * as session from '../session.js';
import { profileMenu } from './safety.js';

/** The user a `#/u/:username/…` page is about, or a page saying there is no such person. */
export async function loadUser(main, username, signal) {
  try {
    return await api.getUserByUsername(username, signal);
  } catch (error) {
    if (error.status !== 404 && error.status !== 400) throw error; // the router offers "Try again"
    fill(main, h('div', { class: 'column' }, heading('Profile not found'), h('p', {}, `No one here is called @${username}.`)));
    return null;
  }
}

function followButton(user, counts, redraw) {
  const me = session.me().userId;
  const problem = h('span', { class: 'inline-error', role: 'status' });
  const button = h('button', { type: 'button', class: 'button' });
  const draw = () => {
    // A private account's follow waits for approval: "Requested" until then (pressing it withdraws).
    const label = counts.following ? 'Unfollow' : counts.requested ? 'Requested' : 'Follow';
    button.textContent = label;
    button.className = counts.following || counts.requested ? 'button secondary' : 'button';
    button.setAttribute('aria-label', `${label} ${nameOf(user)}`);
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    problem.textContent = '';
    try {
      if (counts.following) {
        await api.unfollow(me, user.userId);
        counts.following = false;
        counts.followers -= 1;
      } else if (counts.requested) {
        await api.withdrawFollowRequest(me, user.userId);
        counts.requested = false;
      } else if ((await api.follow(me, user.userId)).pending) {
        counts.requested = true;
      } else {
        counts.following = true;
        counts.followers += 1;
      }
      draw();
      redraw();
    } catch (error) {
      problem.textContent = describe(error);
    } finally {
      button.disabled = false;
    }
  });
  draw();
  return h('span', { class: 'follow' }, button, problem);
}

function ownActions() {
  const signOut = h('button', { type: 'button', class: 'button secondary' }, 'Sign out');
  signOut.addEventListener('click', () => {
    session.clear();
    go('#/signin');
  });
  return h('span', { class: 'own-actions' }, h('a', { href: '#/settings', class: 'button secondary' }, 'Edit profile'), signOut);
}

export const profilePage = {
  async render({ main, params, signal }) {
    const user = await loadUser(main, params.username, signal);
    if (!user) return;
    const mine = user.userId === session.me().userId;
    const [followCounts, relation] = await Promise.all([
      api.getFollowCounts(user.userId, signal).catch(() => null),
      mine ? {} : api.getRelationship(session.me().userId, user.userId, signal),
    ]);
    const counts = {
      followers: Number(followCounts?.followerCount || 0),
      followees: Number(followCounts?.followeeCount || 0),
      following: Boolean(relation.following),
      requested: Boolean(relation.requested),
      posts: null, // from the first page of photos (its totalSize)
    };
    const base = `#/u/${encodeURIComponent(user.username)}`;
    const stats = h('ul', { class: 'stats' });
    const drawStats = () =>
      fill(
        stats,
        counts.posts === null ? null : h('li', {}, h('strong', {}, count(counts.posts, 'post', 'posts'))),
        followCounts
          ? [
              h('li', {}, h('a', { href: `${base}/followers` }, h('strong', {}, count(counts.followers, 'follower', 'followers')))),
              h('li', {}, h('a', { href: `${base}/following` }, h('strong', {}, `${counts.followees.toLocaleString()} following`))),
            ]
          : h('li', { class: 'note' }, 'Follower counts unavailable right now'),
      );
    drawStats();

    const photos = grid(`Photos by ${nameOf(user)}`);
    let locked = false; // a private account I don't follow: its photos are for approved followers
    const pager = await paged({
      list: photos,
      signal,
      moreLabel: 'More photos',
      load: async (token) => {
        try {
          const page = await api.listUserPhotos(user.userId, token, signal);
          if (!token) {
            counts.posts = Number(page.totalSize || 0);
            drawStats();
          }
          return { nodes: (page.photos || []).map(gridItem), next: page.nextPageToken };
        } catch (error) {
          if (error.status !== 403) throw error;
          locked = true;
          return { nodes: [], next: '' };
        }
      },
    });
    const noPhotos = mine
      ? h('p', { class: 'empty' }, 'You haven’t posted yet. ', h('a', { href: '#/upload' }, 'Post your first photo'), '.')
      : locked
        ? h('p', { class: 'empty private-note' }, 'This account is private. Follow it to ask to see its photos.')
        : h('p', { class: 'empty' }, `${nameOf(user)} hasn’t posted yet.`);

    fill(
      main,
      h(
        'div',
        { class: 'profile' },
        h(
          'header',
          { class: 'profile-head' },
          avatarPicture(user, 'large'),
          h(
            'div',
            { class: 'profile-info' },
            heading(nameOf(user)),
            h('p', { class: 'muted' }, `@${user.username}`),
            stats,
            user.bio ? h('p', { class: 'bio' }, user.bio) : null,
            mine
              ? ownActions()
              : h('div', { class: 'follow-row' }, followButton(user, counts, drawStats), profileMenu(user, relation, drawStats)),
          ),
        ),
        h('h2', { class: 'section-title' }, 'Photos'),
        photos.childElementCount ? [photos, pager] : noPhotos,
      ),
    );
  },
};

/** `#/u/:username/followers` and `…/following`: the people, newest first, with more on scroll. */
export function peoplePage(kind) {
  return {
    async render({ main, params, signal }) {
      const user = await loadUser(main, params.username, signal);
      if (!user) return;
      const list = h('ul', { class: 'people' });
      const pager = await paged({
        list,
        signal,
        load: async (token) => {
          const page = await api.listFollows(user.userId, kind, token, signal);
          const ids = (page.follows || []).map((f) => (kind === 'followers' ? f.followerId : f.followeeId));
          const users = await api.batchGetUsers(ids, signal);
          return { nodes: users.map((person) => h('li', {}, userLink(person))), next: page.nextPageToken };
        },
      });
      const title = kind === 'followers' ? `People following ${nameOf(user)}` : `People ${nameOf(user)} follows`;
      const nobody = kind === 'followers' ? 'No followers yet.' : 'Not following anyone yet.';
      fill(
        main,
        h(
          'div',
          { class: 'column' },
          h('p', {}, h('a', { href: `#/u/${encodeURIComponent(user.username)}` }, `← ${nameOf(user)}`)),
          heading(title),
          list.childElementCount ? [list, pager] : h('p', { class: 'empty' }, nobody),
        ),
      );
    },
  };
}
