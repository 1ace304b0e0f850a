// Shutter's web client starts here: the pages and their addresses, the header's links, and what
// the whole app does when the API says the session is over or the service cannot be reached.

import * as banner from './banner.js';
import { count, fill, h, icon } from './dom.js';
import { events } from './http.js';
import { releaseAll } from './images.js';
import * as live from './live.js';
import * as api from './api.js';
import { editPage } from './pages/edit.js';
import { feedPage } from './pages/feed.js';
import { notFoundPage } from './pages/notfound.js';
import { notificationsPage } from './pages/notifications.js';
import { photoPage } from './pages/photo.js';
import { peoplePage, profilePage } from './pages/profile.js';
import { linksPage, requestsPage } from './pages/safety.js';
import { searchPage } from './pages/search.js';
import { settingsPage } from './pages/settings.js';
import { signInPage, signUpPage } from './pages/signin.js';
import { uploadPage } from './pages/upload.js';
import * as router from './router.js';
import * as session from './session.js';

router.route('/', feedPage);
router.route('/signin', signInPage);
router.route('/signup', signUpPage);
router.route('/upload', uploadPage);
router.route('/search', searchPage);
router.route('/settings', settingsPage);
router.route('/notifications', notificationsPage);
router.route('/p/:id', photoPage);
router.route('/p/:id/edit', editPage);
router.route('/u/:username', profilePage);
router.route('/u/:username/followers', peoplePage('followers'));
router.route('/u/:username/following', peoplePage('following'));
router.route('/requests', requestsPage);
router.route('/settings/blocked', linksPage('blocks'));
router.route('/settings/muted', linksPage('mutes'));
router.route('/404', notFoundPage);

// The bell's unread count, kept up to date by the notifications stream while someone is signed in.
let unread = 0;
let watching = null; // {userId, controller}

function drawBell() {
  const link = document.querySelector('#nav a[href="#/notifications"]');
  if (!link) return;
  const badge = link.querySelector('.badge');
  badge.textContent = unread > 99 ? '99+' : String(unread);
  badge.hidden = unread === 0;
  // The badge is for the eyes; the link's name says it in words (its visible label stays in the name).
  link.querySelector('.visually-hidden').textContent = unread ? `, ${count(unread, 'unread', 'unread')}` : '';
}

/** One stream per signed-in user, opened on the first page drawn and closed when they sign out. */
function watchNotifications() {
  const me = session.me();
  if (watching && watching.userId === me?.userId) return;
  watching?.controller.abort();
  watching = null;
  unread = 0;
  if (!me) return;
  const controller = new AbortController();
  watching = { userId: me.userId, controller };
  live.watch(
    api.notificationsWatchPath(me.userId),
    (update) => {
      unread = Number(update.unreadCount || 0);
      drawBell();
    },
    controller.signal,
  );
}

/** The header's links: the places a signed-in person goes, with the current one marked. */
function drawNav(path) {
  const me = session.me();
  const nav = document.getElementById('nav');
  watchNotifications();
  if (!me) {
    fill(nav);
    return;
  }
  const profile = `/u/${encodeURIComponent(me.username)}`;
  const links = [
    ['/', 'Home', 'home'],
    ['/search', 'Search', 'search'],
    ['/upload', 'Post', 'plus'],
    ['/notifications', 'Alerts', 'bell'],
    [profile, 'Profile', 'user'],
  ];
  fill(
    nav,
    h(
      'ul',
      {},
      links.map(([target, label, name]) =>
        h(
          'li',
          {},
          h(
            'a',
            { href: `#${target}`, 'aria-current': path === target ? 'page' : false },
            icon(name),
            h('span', {}, label),
            name === 'bell' ? [h('span', { class: 'badge', 'aria-hidden': 'true', hidden: true }), h('span', { class: 'visually-hidden' })] : null,
          ),
        ),
      ),
    ),
  );
  drawBell();
}

events.addEventListener('unauthenticated', () => {
  session.clear();
  router.signInAndReturn();
});
events.addEventListener('unavailable', () => banner.showUnavailable(router.render));
events.addEventListener('throttled', (event) => banner.showThrottled(event.detail.retryAfter));
window.addEventListener('offline', () => banner.showUnavailable(router.render));
window.addEventListener('online', () => {
  banner.hide();
  router.render();
});

document.getElementById('skip').addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main').focus();
});

router.start((path) => {
  releaseAll();
  drawNav(path);
});
