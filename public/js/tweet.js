/*
 * A post's page (/t/<id>): the post and its replies, oldest first, are the
 * timeline (feed.js loads them); this module adds the reply box.
 */
import { api, ok } from './api.js';
import { el, h, showMessage, updateCounter } from './dom.js';
import { fail } from './session.js';
import { findTweet, nextTick, routeGen, state, touch, touchedSince } from './state.js';
import { addTweets, updateShown } from './timeline.js';

export function renderReplyBox(v) {
  if (!state.me) {
    el.view.append(h('p', { class: 'hint card' }, 'Log in to reply.'));
    return;
  }
  const ta = h('textarea', { id: 'reply-text', rows: '2', 'aria-describedby': 'reply-count' });
  const form = h('form', { class: 'card compose reply-box' },
    h('label', { for: 'reply-text' }, 'Your reply'), ta,
    h('div', { class: 'row end' },
      h('span', { id: 'reply-count', class: 'count' }),
      h('button', { type: 'submit', class: 'btn' }, 'Reply')));
  el.view.append(form);
  updateCounter(form);
  form.dataset.replyTo = v.id;
}

export async function postReply(form) {
  const ta = form.querySelector('textarea');
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  ta.readOnly = true;
  const g = routeGen();
  const r = await api('POST', '/api/tweet', { text: ta.value, reply_to: form.dataset.replyTo });
  ta.readOnly = false;
  if (ok(r)) {
    ta.value = '';
    if (g === routeGen()) {
      touch(r.data.id);
      if (!state.next) addTweets([r.data], 'end');
      // The parent's reply count (an event may also bring it: take the
      // answer only when nothing changed the parent meanwhile).
      const t0 = nextTick();
      const p = await api('GET', `/api/tweet/${encodeURIComponent(form.dataset.replyTo)}`);
      const parent = findTweet(form.dataset.replyTo);
      if (ok(p) && g === routeGen() && parent && !touchedSince(parent.id, t0)) {
        updateShown({ ...p.data, liked_by_me: parent.liked_by_me });
      }
    }
    showMessage('Reply posted.', 'info');
  } else {
    fail(r);
  }
  updateCounter(form);
}
