// Shutter's web client starts here: the pages and their addresses, the header's links, and what
// the whole app does when the API says the session is over or the service cannot be reached.

import * as banner from './banner.js';
import { fill, h, icon } from './dom.js';
import { events } from './http.js';
import { releaseAll } from './images.js';
import { feedPage } from './pages/feed.js';
import { notFoundPage } from './pages/notfound.js';
import { photoPage } from './pages/photo.js';
import { peoplePage, profilePage } from './pages/profile.js';
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
router.route('/p/:id', photoPage);
router.route('/u/:username', profilePage);
router.route('/u/:username/followers', peoplePage('followers'));
router.route('/u/:username/following', peoplePage('following'));
router.route('/404', notFoundPage);

/** The header's links: the four places a signed-in person goes, with the current one marked. */
function drawNav(path) {
  const me = session.me();
  const nav = document.getElementById('nav');
  if (!me) {
    fill(nav);
    return;
  }
  const profile = `/u/${encodeURIComponent(me.username)}`;
  const links = [
    ['/', 'Home', 'home'],
    ['/search', 'Search', 'search'],
    ['/upload', 'Post', 'plus'],
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
          h('a', { href: `#${target}`, 'aria-current': path === target ? 'page' : false }, icon(name), h('span', {}, label)),
        ),
      ),
    ),
  );
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
