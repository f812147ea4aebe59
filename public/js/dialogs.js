/*
 * The modal dialogs a tweet opens: quoting it (a compose form with the
 * quoted post under it) and its edit history (the "(edited)" label).
 * Each is a <dialog> shown with showModal(): focus moves into it and
 * stays there, Escape closes it, and focus goes back to the button that
 * opened it.
 */
import { api, errorMessage, ok } from './api.js';
import { fullTime, h, quoteCard, relTime, showMessage, updateCounter } from './dom.js';
import { fail } from './session.js';
import { state, touch } from './state.js';
import { addTweets } from './timeline.js';

let uid = 0; // unique ids for the dialogs' labels

// A modal dialog labelled by its heading, with body (its elements);
// removed from the page when it closes, focus back on opener. A button
// with data-close closes it.
function openDialog(title, body, opener) {
  const id = `dialog-${++uid}`;
  const dialog = h('dialog', { class: 'dialog card', 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, title), ...body);
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  dialog.addEventListener('click', (e) => {
    if (e.target.closest('[data-close]')) dialog.close();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

const closeButton = (text) => h('button', { type: 'button', class: 'btn ghost', 'data-close': '' }, text);

/* ---------- quote ---------- */

// A compose form for a quote of t (a tweet of the list).
export function openQuote(t, opener) {
  if (!t || !state.me) return;
  const tid = `quote-text-${++uid}`;
  const ta = h('textarea', { id: tid, rows: '3', 'aria-describedby': `${tid}-count` });
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Quote');
  const form = h('form', { class: 'compose quote-form' },
    h('label', { for: tid }, 'Your comment'), ta,
    quoteCard({ available: true, id: t.id, author: t.author, text: t.text, created_at: t.created_at }),
    h('div', { class: 'row end' }, h('span', { id: `${tid}-count`, class: 'count' }),
      closeButton('Cancel'), submit));
  const dialog = openDialog('Quote this post', [form], opener);
  updateCounter(form);
  ta.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    ta.readOnly = true;
    const r = await api('POST', '/api/tweet', { text: ta.value, quote_of: String(t.id) });
    ta.readOnly = false;
    if (!ok(r)) {
      updateCounter(form);
      fail(r);
      return;
    }
    dialog.close();
    touch(r.data.id);
    const v = state.view;
    if (v && (v.name === 'home' || v.name === 'global' ||
        (v.name === 'profile' && v.user.toLowerCase() === state.me.username.toLowerCase()))) {
      addTweets([r.data], 'start');
    }
    showMessage('Quote posted.', 'info');
  });
}

/* ---------- edit history ---------- */

// The texts tweet id has had, newest first (GET /api/tweet/<id>/history).
export async function openHistory(id, opener) {
  if (opener) opener.disabled = true;
  const r = await api('GET', `/api/tweet/${encodeURIComponent(id)}/history`);
  if (opener) opener.disabled = false;
  if (!ok(r)) { showMessage(errorMessage(r)); return; }
  const items = (r.data && r.data.items) || [];
  const list = h('ol', { class: 'history' }, ...items.map((v) => h('li', { class: 'version' },
    h('p', { class: 'meta' },
      h('time', { datetime: v.created_at, title: fullTime(v.created_at) }, relTime(v.created_at)),
      v.current ? h('span', { class: 'current' }, ' · current') : null),
    h('p', { class: 'text' }, v.text))));
  const dialog = openDialog('Edit history',
    [list, h('div', { class: 'row end' }, closeButton('Close'))], opener);
  dialog.querySelector('[data-close]').focus();
}
