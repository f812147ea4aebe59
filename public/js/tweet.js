/*
 * Replies: the reply form a post opens under itself, from any list (the
 * reply button) and open by itself under the post of a post's page
 * (/t/<id>, whose list is the post and its replies, oldest first; feed.js
 * loads them). A post that is gone takes its form with it.
 */
import { api, ok } from './api.js';
import { clearImages, imageList, imagePicker, withImages } from './attach.js';
import { h, showMessage, updateCounter } from './dom.js';
import { fail } from './session.js';
import { findTweet, nextTick, routeGen, state, touch, touchedSince } from './state.js';
import { addTweets, findNode, insertTweet, renderFeedChrome, updateShown } from './timeline.js';

let uid = 0; // unique ids for the forms' textareas

// Opens the reply form under li (a post of the list), focused unless it
// is the page's own (opts.page: id "reply-text", opts.text: a draft).
export function openReply(li, opts = {}) {
  if (!li || !state.me) return null;
  const open = li.querySelector('form.reply-box');
  if (open) return open;
  const t = findTweet(li.dataset.id);
  if (!t) return null;
  const id = opts.page ? 'reply-text' : `reply-${++uid}`;
  const ta = h('textarea', { id, rows: '2', 'aria-describedby': `${id}-count`,
    placeholder: `Reply to @${t.author.username}` });
  ta.value = opts.text || '';
  const form = h('form', { class: 'reply-box' },
    h('label', { for: id, class: 'sr-only' }, `Reply to @${t.author.username}`), ta, imageList(),
    h('div', { class: 'row end' },
      ...imagePicker(`${id}-file`),
      h('span', { id: `${id}-count`, class: 'count' }),
      opts.page ? null : h('button', { type: 'button', class: 'btn ghost small', 'data-action': 'close-reply' }, 'Cancel'),
      h('button', { type: 'submit', class: 'btn small' }, 'Reply')));
  form.dataset.replyTo = String(t.id);
  if (opts.page) form.dataset.page = '1';
  li.querySelector('.tw-main').append(form);
  li.querySelector('[data-action=reply]')?.setAttribute('aria-expanded', 'true');
  updateCounter(form);
  if (!opts.page) ta.focus();
  return form;
}

// Closes li's reply form; uploads of its images under way stop.
function closeReply(li) {
  const form = li.querySelector('form.reply-box');
  if (form) {
    clearImages(form);
    form.remove();
  }
  const btn = li.querySelector('[data-action=reply]');
  if (btn) { btn.setAttribute('aria-expanded', 'false'); btn.focus(); }
}

// The reply button of a post: opens its form, or focuses the open one;
// on the post's own page it is the form under it.
export function toggleReply(li, btn) {
  const open = li.querySelector('form.reply-box');
  if (open) { open.querySelector('textarea').focus(); return; }
  openReply(li);
  if (btn) btn.setAttribute('aria-expanded', 'true');
}

export function onReplyClick(e) {
  const btn = e.target.closest('button[data-action=close-reply]');
  if (btn) closeReply(btn.closest('li'));
}

export async function postReply(form) {
  const ta = form.querySelector('textarea');
  const btn = form.querySelector('button[type=submit]');
  const parentId = form.dataset.replyTo;
  btn.disabled = true;
  ta.readOnly = true;
  const g = routeGen();
  const r = await api('POST', '/api/tweet', withImages(form, { text: ta.value, reply_to: parentId }));
  ta.readOnly = false;
  if (!ok(r)) {
    updateCounter(form);
    fail(r);
    return;
  }
  ta.value = '';
  clearImages(form);
  updateCounter(form);
  showMessage('Reply posted.', 'info');
  if (g !== routeGen()) return;
  touch(r.data.id);
  const v = state.view;
  if (v.name === 'tweet' && v.id === parentId) {
    if (!state.next) addTweets([r.data], 'end'); // the page lists replies oldest first
  } else {
    if (!form.dataset.page) closeReply(form.closest('li'));
    const mineShown = v.name === 'home' || v.name === 'global' ||
      (v.name === 'profile' && v.user.toLowerCase() === state.me.username.toLowerCase());
    if (mineShown && insertTweet(r.data)) renderFeedChrome();
  }
  // The parent's reply count (an event may also bring it: take the
  // answer only when nothing changed the parent meanwhile).
  const t0 = nextTick();
  const p = await api('GET', `/api/tweet/${encodeURIComponent(parentId)}`);
  const parent = findTweet(parentId);
  if (ok(p) && g === routeGen() && parent && !touchedSince(parent.id, t0)) {
    updateShown({ ...p.data, liked_by_me: parent.liked_by_me, reposted_by: parent.reposted_by,
      reposted_at: parent.reposted_at });
  }
  if (form.dataset.page) findNode(parentId)?.querySelector('form.reply-box textarea')?.focus();
}
