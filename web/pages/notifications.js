// Your notifications, grouped the way people expect ("Ada and 12 others liked your photo"), newest
// first. Opening the page marks everything shown as read; the bell's count follows (it listens to
// the live stream, which the server updates when you mark read). A request to follow your private
// account is answered right here: Approve makes it the follow it now is, Decline takes it away.

import * as api from '../api.js';
import { count, fill, h, heading, nameOf, when } from '../dom.js';
import { paged, userLink } from '../parts.js';
import * as session from '../session.js';
import { personActions, requestAnswers } from './safety.js';

const REQUESTED = 'NOTIFICATION_TYPE_FOLLOW_REQUESTED';
const WHAT = {
  NOTIFICATION_TYPE_LIKE: 'liked your photo',
  NOTIFICATION_TYPE_COMMENT: 'commented on your photo',
  NOTIFICATION_TYPE_FOLLOW: 'started following you',
  NOTIFICATION_TYPE_MENTION: 'mentioned you',
  [REQUESTED]: 'asked to follow you',
};

/** 'Ada', 'Ada and Bo', 'Ada and 12 others': the newest actor named, the rest counted. */
export function who(group, usersById) {
  const first = usersById.get(group.latestActorIds?.[0]);
  const others = Number(group.notificationsCount || 1) - 1;
  if (others <= 0) return [first];
  if (others === 1 && group.latestActorIds.length > 1) return [first, ' and ', usersById.get(group.latestActorIds[1])];
  return [first, ` and ${count(others, 'other', 'others')}`];
}

function item(group, usersById) {
  const [first, ...rest] = who(group, usersById);
  const names = [first ? userLink(first) : h('span', {}, 'Someone'), ...rest.map((part) => (typeof part === 'string' ? part : h('strong', {}, nameOf(part))))];
  const target = group.photoId && group.photoId !== '0' ? `#/p/${group.photoId}` : null;
  const what = target ? h('a', { href: target }, WHAT[group.type]) : h('span', {}, WHAT[group.type]);
  const row = h(
    'li',
    { class: `notification card${group.unread ? ' unread' : ''}` },
    h('p', { class: 'notification-text' }, names, ' ', what),
    group.unread ? h('span', { class: 'visually-hidden' }, 'New. ') : null,
    when(group.latestAt),
  );
  if (group.type === REQUESTED && first) row.append(...answers(first, row, what));
  return row;
}

/** Approve / Decline on a follow request: approved, the line says what it now is (a follow, as it will
 *  read from now on); declined, it goes. */
function answers(person, row, what) {
  const [buttons, problem] = personActions(person, requestAnswers(person), (label) => {
    if (label === 'Approve') {
      what.textContent = WHAT.NOTIFICATION_TYPE_FOLLOW;
      buttons.remove();
    } else {
      row.remove();
    }
  });
  return [buttons, problem];
}

export const notificationsPage = {
  async render({ main, signal }) {
    const me = session.me().userId;
    const list = h('ul', { class: 'notifications' });
    let newest = '';
    const pager = await paged({
      list,
      signal,
      moreLabel: 'Older notifications',
      load: async (token) => {
        const page = await api.listNotifications(me, token, signal);
        const groups = page.groups || [];
        if (!token && groups.length) newest = groups[0].position;
        const ids = [...new Set(groups.flatMap((group) => group.latestActorIds || []))];
        const users = await api.batchGetUsers(ids, signal);
        const usersById = new Map(users.map((user) => [user.userId, user]));
        return { nodes: groups.map((group) => item(group, usersById)), next: page.nextPageToken };
      },
    });
    const empty = h(
      'div',
      { class: 'empty card' },
      h('p', {}, 'Nothing yet.'),
      h('p', { class: 'muted' }, 'Likes, comments, follows, follow requests and mentions show up here.'),
    );
    fill(main, h('div', { class: 'column' }, heading('Notifications'), list.childElementCount ? [list, pager] : empty));
    if (newest) await api.markNotificationsRead(me, newest).catch(() => {}); // read when seen; the bell follows
  },
};
