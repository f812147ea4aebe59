/*
 * The modal dialogs a tweet opens: quoting it (a compose form with the
 * quoted post under it) and its edit history (the "(edited)" label); the
 * lightbox (lightbox.js) is one too. Each is a <dialog> shown with
 * showModal(): focus moves into it and stays there, Escape closes it,
 * and focus goes back to the button that opened it.
 */
import { api, errorMessage, ok } from './api.js';
import { clearImages, imageList, imagePicker, withImages } from './attach.js';
import { fullTime, h, quoteCard, relTime, showMessage, updateCounter } from './dom.js';
import { fail } from './session.js';
import { state, touch } from './state.js';
import { addTweets, currentControl } from './timeline.js';

let uid = 0; // unique ids for the dialogs' labels

// A modal dialog labelled by its heading, with body (its elements);
// removed from the page when it closes, focus back on opener (an element,
// or a function that says which then; a post's button drawn again by a
// live update meanwhile: the same button of the new drawing). A button
// with data-close closes it. className: the dialog's look.
export function openDialog(title, body, opener, className = 'dialog card') {
  const id = `dialog-${++uid}`;
  const dialog = h('dialog', { class: className, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, title), ...body);
  dialog.addEventListener('close', () => {
    dialog.remove();
    const back = typeof opener === 'function' ? opener() : opener && currentControl(opener);
    if (back && back.isConnected) back.focus();
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
    h('label', { for: tid }, 'Your comment'), ta, imageList(),
    quoteCard({ available: true, id: t.id, author: t.author, text: t.text, created_at: t.created_at, media: t.media }),
    h('div', { class: 'row end' }, ...imagePicker(`${tid}-file`), h('span', { id: `${tid}-count`, class: 'count' }),
      closeButton('Cancel'), submit));
  const dialog = openDialog('Quote this post', [form], opener);
  dialog.addEventListener('close', () => clearImages(form)); // uploads under way stop
  updateCounter(form);
  ta.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    ta.readOnly = true;
    const r = await api('POST', '/api/tweet', withImages(form, { text: ta.value, quote_of: String(t.id) }));
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
