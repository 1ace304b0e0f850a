// Edit your own profile: display name and bio.

import * as api from '../api.js';
import { fill, h, heading } from '../dom.js';
import { showErrors } from '../errors.js';
import { busy, field, formStatus } from '../forms.js';
import { avatarPicture } from '../images.js';
import { go } from '../router.js';
import * as session from '../session.js';
import { privacySwitch } from './safety.js';

export const settingsPage = {
  async render({ main, signal }) {
    const me = await api.getUser(session.me().userId, signal);
    const form = h(
      'form',
      { class: 'card form', novalidate: true },
      field({ name: 'display_name', label: 'Name', hint: 'Up to 64 characters', autocomplete: 'name' }),
      field({ name: 'bio', label: 'Bio', hint: 'Up to 500 characters', control: 'textarea', rows: 4 }),
      formStatus(),
      h(
        'div',
        { class: 'form-actions' },
        h('button', { type: 'submit', class: 'button' }, 'Save'),
        h('a', { href: `#/u/${encodeURIComponent(me.username)}`, class: 'button secondary' }, 'Cancel'),
      ),
    );
    const picture = pictureForm(me);
    form.elements.display_name.value = me.displayName || '';
    form.elements.bio.value = me.bio || '';
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      await busy(form, 'Saving…', async () => {
        try {
          const user = await api.updateUser(me.userId, form.elements.display_name.value.trim(), form.elements.bio.value);
          session.updateUser(user);
          go(`#/u/${encodeURIComponent(user.username)}`);
        } catch (error) {
          showErrors(form, error);
        }
      });
    });
    fill(main, h('div', { class: 'narrow' }, heading('Edit profile'), picture, form, await privacySwitch(signal)));
  },
};

/** The profile picture: shown as it is, replaced by choosing a file (cropped square by the server). */
function pictureForm(me) {
  const shown = h('div', { class: 'avatar-current' }, avatarPicture(me, 'large'));
  const form = h(
    'form',
    { class: 'card form', novalidate: true },
    shown,
    field({
      name: 'file',
      label: 'Profile picture',
      hint: 'JPEG, PNG, WebP or GIF; cropped to a square',
      type: 'file',
      accept: 'image/jpeg,image/png,image/webp,image/gif',
      errorNames: ['chunk'],
    }),
    formStatus(),
    h('button', { type: 'submit', class: 'button secondary' }, 'Upload picture'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) return;
    const body = new FormData();
    body.append('file', file, file.name);
    await busy(form, 'Uploading…', async () => {
      try {
        const answer = await api.uploadAvatar(body);
        shown.replaceChildren(avatarPicture(answer.user, 'large'));
      } catch (error) {
        showErrors(form, error);
      }
    });
  });
  return form;
}
