// Edit your own profile: display name and bio.

import * as api from '../api.js';
import { fill, h, heading } from '../dom.js';
import { showErrors } from '../errors.js';
import { busy, field, formStatus } from '../forms.js';
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
    fill(main, h('div', { class: 'narrow' }, heading('Edit profile'), form, await privacySwitch(signal)));
  },
};
