// Privacy and safety screens: the private-account switch (on the settings page), the follow-requests
// page with Approve / Decline (the notifications page answers a request with the same buttons), the
// lists of blocked and muted people, and the Block / Mute menu on a profile. The rules live on the
// server; these only ask and show what it answers.

import * as api from '../api.js';
import { fill, h, heading, nameOf } from '../dom.js';
import { describe } from '../errors.js';
import { paged, userLink } from '../parts.js';
import * as session from '../session.js';

/** A checkbox that makes the signed-in account private or public, saved as soon as it changes. */
export async function privacySwitch(signal) {
  const me = session.me().userId;
  const relation = await api.getRelationship(me, me, signal);
  const box = h('input', { type: 'checkbox', id: 'private-account', checked: Boolean(relation.private) });
  const status = h('p', { class: 'note', role: 'status' });
  box.addEventListener('change', async () => {
    box.disabled = true;
    status.textContent = '';
    try {
      const reply = await api.setPrivacy(me, box.checked);
      const approved = Number(reply.approvedRequests || 0);
      status.textContent = box.checked
        ? 'Your account is private: only people you approve see your photos.'
        : `Your account is public.${approved ? ` ${approved} pending request${approved === 1 ? '' : 's'} approved.` : ''}`;
    } catch (error) {
      box.checked = !box.checked;
      status.textContent = describe(error);
    } finally {
      box.disabled = false;
    }
  });
  return h(
    'section',
    { class: 'card privacy' },
    h('h2', { class: 'section-title' }, 'Privacy'),
    h('p', {}, box, ' ', h('label', { for: 'private-account' }, 'Private account')),
    h('p', { class: 'muted' }, 'When your account is private, people ask to follow you and only those you approve see your photos.'),
    status,
    h(
      'ul',
      { class: 'links' },
      h('li', {}, h('a', { href: '#/requests' }, 'Follow requests')),
      h('li', {}, h('a', { href: '#/settings/blocked' }, 'Blocked accounts')),
      h('li', {}, h('a', { href: '#/settings/muted' }, 'Muted accounts')),
    ),
  );
}

/** Buttons that act on a person, then call `done(label)` with the one pressed; a failure is said next to
 *  them and the buttons come back. Returns the buttons' box and the status line, to place in a row. */
export function personActions(person, actions, done) {
  const problem = h('span', { class: 'inline-error', role: 'status' });
  const buttons = actions.map(([label, act, secondary]) => {
    const button = h(
      'button',
      { type: 'button', class: secondary ? 'button secondary' : 'button', 'aria-label': `${label} ${nameOf(person)}` },
      label,
    );
    button.addEventListener('click', async () => {
      for (const each of buttons) each.disabled = true;
      problem.textContent = '';
      try {
        await act();
        done(label);
      } catch (error) {
        problem.textContent = describe(error);
        for (const each of buttons) each.disabled = false;
      }
    });
    return button;
  });
  return [h('span', { class: 'row-actions' }, buttons), problem];
}

/** The answers to `person`'s request to follow me, for personActions (here and in the notifications). */
export function requestAnswers(person) {
  const me = session.me().userId;
  return [
    ['Approve', () => api.approveFollowRequest(me, person.userId)],
    ['Decline', () => api.rejectFollowRequest(me, person.userId), true],
  ];
}

/** One person in a list, with buttons that act on them and then take the row away. */
function personRow(person, actions) {
  const row = h('li', { class: 'person-row' });
  return fill(row, userLink(person), personActions(person, actions, () => row.remove()));
}

/** `#/requests`: who asked to follow me, newest first, each with Approve and Decline. */
export const requestsPage = {
  async render({ main, signal }) {
    const me = session.me().userId;
    const list = h('ul', { class: 'people' });
    const pager = await paged({
      list,
      signal,
      load: async (token) => {
        const page = await api.listFollowRequests(me, token, signal);
        const people = await api.batchGetUsers((page.requests || []).map((r) => r.requesterId), signal);
        return {
          nodes: people.map((person) => personRow(person, requestAnswers(person))),
          next: page.nextPageToken,
        };
      },
    });
    fill(
      main,
      h(
        'div',
        { class: 'column' },
        h('p', {}, h('a', { href: '#/settings' }, '← Settings')),
        heading('Follow requests'),
        list.childElementCount ? [list, pager] : h('p', { class: 'empty' }, 'No one is waiting for your approval.'),
      ),
    );
  },
};

/** `#/settings/blocked` and `#/settings/muted`: the people, newest first, each with Unblock or Unmute. */
export function linksPage(kind) {
  const blocks = kind === 'blocks';
  return {
    async render({ main, signal }) {
      const me = session.me().userId;
      const list = h('ul', { class: 'people' });
      const pager = await paged({
        list,
        signal,
        load: async (token) => {
          const page = await api.listLinks(me, kind, token, signal);
          const people = await api.batchGetUsers((page.users || []).map((u) => u.userId), signal);
          const undo = blocks ? ['Unblock', (id) => api.unblock(me, id)] : ['Unmute', (id) => api.unmute(me, id)];
          return {
            nodes: people.map((person) => personRow(person, [[undo[0], () => undo[1](person.userId), true]])),
            next: page.nextPageToken,
          };
        },
      });
      fill(
        main,
        h(
          'div',
          { class: 'column' },
          h('p', {}, h('a', { href: '#/settings' }, '← Settings')),
          heading(blocks ? 'Blocked accounts' : 'Muted accounts'),
          list.childElementCount ? [list, pager] : h('p', { class: 'empty' }, blocks ? 'You haven’t blocked anyone.' : 'You haven’t muted anyone.'),
        ),
      );
    },
  };
}

/** A profile's "More" menu: Block / Unblock and Mute / Unmute, each confirmed by what the button then says. */
export function profileMenu(user, relation, onChange) {
  const me = session.me().userId;
  const problem = h('span', { class: 'inline-error', role: 'status' });
  const blockButton = h('button', { type: 'button', class: 'button secondary' });
  const muteButton = h('button', { type: 'button', class: 'button secondary' });
  const draw = () => {
    blockButton.textContent = relation.blocking ? 'Unblock' : 'Block';
    blockButton.setAttribute('aria-label', `${relation.blocking ? 'Unblock' : 'Block'} ${nameOf(user)}`);
    muteButton.textContent = relation.muting ? 'Unmute' : 'Mute';
    muteButton.setAttribute('aria-label', `${relation.muting ? 'Unmute' : 'Mute'} ${nameOf(user)}`);
  };
  const act = (button, work) =>
    button.addEventListener('click', async () => {
      button.disabled = true;
      problem.textContent = '';
      try {
        await work();
        draw();
        onChange();
      } catch (error) {
        problem.textContent = describe(error);
      } finally {
        button.disabled = false;
      }
    });
  act(blockButton, async () => {
    if (relation.blocking) await api.unblock(me, user.userId);
    else await api.block(me, user.userId);
    relation.blocking = !relation.blocking;
    if (relation.blocking) Object.assign(relation, { following: false, requested: false });
  });
  act(muteButton, async () => {
    if (relation.muting) await api.unmute(me, user.userId);
    else await api.mute(me, user.userId);
    relation.muting = !relation.muting;
  });
  draw();
  return h(
    'details',
    { class: 'profile-menu' },
    h('summary', { class: 'button secondary' }, 'More'),
    h('div', { class: 'menu' }, blockButton, muteButton, problem),
  );
}
