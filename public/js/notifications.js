/*
 * The notifications page (/notifications), the unread count behind the
 * nav badge, and notification events.
 */
import { api, ok, PAGE, withQuery } from './api.js';
import { avatar } from './avatar.js';
import { el, fullTime, h, nameNodes, relTime, tweetHref } from './dom.js';
import { icon } from './icons.js';
import { pagedList } from './paged.js';
import { renderBadge } from './session.js';
import { state } from './state.js';

// The kinds of notification (a notification's `type`).
const NOTE = Object.freeze({
  FOLLOW: 'follow',
  LIKE: 'like',
  REPLY: 'reply',
  MENTION: 'mention',
  REPOST: 'repost',
  QUOTE: 'quote',
});

function notificationText(n) {
  if (n.type === NOTE.FOLLOW) return ' followed you';
  if (n.type === NOTE.LIKE) return ' liked your post';
  if (n.type === NOTE.REPLY) return ' replied to your post';
  if (n.type === NOTE.MENTION) return ' mentioned you';
  if (n.type === NOTE.REPOST) return ' reposted your post';
  if (n.type === NOTE.QUOTE) return ' quoted your post';
  return ` ${n.type}`;
}

const ICON = { follow: 'user', like: 'heart', reply: 'reply', mention: 'reply', repost: 'repost', quote: 'quote' };

function renderNotification(n) {
  const a = n.actor || {};
  return h('li', { class: `note ${n.type}${n.read ? '' : ' unread'}` },
    icon(ICON[n.type] || 'bell'),
    avatar(a, 's'),
    h('p', { class: 'note-text' },
      ...nameNodes(a),
      notificationText(n),
      n.tweet ? h('span', null, ' · ', h('a', { href: tweetHref(n.tweet) }, n.type === NOTE.REPLY ? 'see the reply' : 'see the post')) : null,
      ' · ', h('time', { datetime: n.created_at, title: fullTime(n.created_at) }, relTime(n.created_at)),
      n.read ? null : h('span', { class: 'sr-only' }, ' (unread)')));
}

export async function loadNotifications(g) {
  const list = h('ol', { id: 'notes', class: 'notes' });
  el.view.append(h('div', { class: 'row between' }, h('h2', { tabindex: '-1' }, 'Notifications')), list);
  if (!state.me) { list.append(h('li', { class: 'hint' }, 'Log in to see your notifications.')); return; }
  if (await pagedList(list, (before) => withQuery('/api/notifications', { limit: PAGE, before }),
    renderNotification, 'No notifications yet.', g)) markRead();
}

async function markRead() {
  const r = await api('POST', '/api/notifications/read', {});
  if (ok(r)) { state.unread = 0; renderBadge(); }
}

export async function loadUnread() {
  const who = state.me && state.me.username;
  const r = await api('GET', withQuery('/api/notifications', { limit: 1 }));
  if (!ok(r) || !state.me || state.me.username !== who) return;
  if (state.view && state.view.name === 'notifications') return; // marked read there
  state.unread = Number(r.data && r.data.unread) || 0;
  renderBadge();
}

// A notification event: on the notifications page it goes on top (and is
// read), elsewhere it counts in the badge.
export function onNotification(n) {
  const list = document.getElementById('notes');
  if (state.view && state.view.name === 'notifications' && list) {
    list.querySelector('li.hint')?.remove();
    list.prepend(renderNotification(n));
    markRead();
    return;
  }
  state.unread++;
  renderBadge();
}
