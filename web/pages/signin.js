// Sign in and sign up. Both end signed in, on the page you were sent here from (`?next=`).

import * as api from '../api.js';
import { fill, h, heading } from '../dom.js';
import { clearErrors, fieldError, showErrors, showMessage } from '../errors.js';
import { busy, field, formStatus } from '../forms.js';
import { go, nextPage } from '../router.js';
import * as session from '../session.js';

function switchLink(query, text, target, linkText) {
  const next = query.get('next');
  const href = next ? `${target}?next=${encodeURIComponent(next)}` : target;
  return h('p', { class: 'switch' }, text, ' ', h('a', { href }, linkText));
}

async function signIn(username, password, query) {
  session.save(await api.authenticate(username, password));
  go(nextPage(query));
}

export const signInPage = {
  public: true,
  async render({ main, query }) {
    const form = h(
      'form',
      { class: 'card form', novalidate: true },
      field({ name: 'username', label: 'Username', autocomplete: 'username', required: true, autocapitalize: 'none' }),
      field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true }),
      formStatus(),
      h('button', { type: 'submit', class: 'button' }, 'Sign in'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const username = form.elements.username.value.trim();
      const password = form.elements.password.value;
      clearErrors(form);
      if (!username) return fieldError(form.elements.username, 'Enter your username.');
      if (!password) return fieldError(form.elements.password, 'Enter your password.');
      await busy(form, 'Signing in…', async () => {
        try {
          await signIn(username, password, query);
        } catch (error) {
          if (error.status === 401) showMessage(form, 'That username and password don’t match. Check both and try again.');
          else showErrors(form, error);
        }
      });
    });
    const expired = query.get('next') ? h('p', { class: 'notice' }, 'Please sign in to continue.') : null;
    fill(
      main,
      h(
        'div',
        { class: 'narrow' },
        heading('Sign in'),
        h('p', { class: 'intro' }, 'Share photos with the people you follow.'),
        expired,
        form,
        switchLink(query, 'New to Shutter?', '#/signup', 'Create an account'),
      ),
    );
  },
};

export const signUpPage = {
  public: true,
  async render({ main, query }) {
    const form = h(
      'form',
      { class: 'card form', novalidate: true },
      field({
        name: 'username',
        label: 'Username',
        hint: '3 to 30 letters, digits, “_” or “.”',
        autocomplete: 'username',
        autocapitalize: 'none',
        required: true,
      }),
      field({ name: 'display_name', label: 'Name', hint: 'Optional: how your name is shown', autocomplete: 'name' }),
      field({
        name: 'password',
        label: 'Password',
        hint: 'At least 8 characters',
        type: 'password',
        autocomplete: 'new-password',
        required: true,
      }),
      formStatus(),
      h('button', { type: 'submit', class: 'button' }, 'Create account'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const fields = {
        username: form.elements.username.value.trim(),
        displayName: form.elements.display_name.value.trim(),
        password: form.elements.password.value,
      };
      await busy(form, 'Creating your account…', async () => {
        try {
          await api.createUser(fields);
          await signIn(fields.username, fields.password, query);
        } catch (error) {
          const taken = error.status === 409 ? [{ field: 'username', message: 'That username is taken. Try another one.' }] : [];
          showErrors(form, error, taken);
        }
      });
    });
    fill(
      main,
      h(
        'div',
        { class: 'narrow' },
        heading('Create your account'),
        h('p', { class: 'intro' }, 'Share photos with the people you follow.'),
        form,
        switchLink(query, 'Already have an account?', '#/signin', 'Sign in'),
      ),
    );
  },
};
