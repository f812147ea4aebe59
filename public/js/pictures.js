/*
 * A profile's pictures: the header image across the top of the profile
 * card and the avatar under it (either opens the lightbox), and, in one's
 * own "Edit profile" form, a picker for each: the image chosen is
 * uploaded at once (upload.js) and shown; "Save profile" then sets it
 * (PATCH /api/me, `avatar` / `header`: the upload's id, or null for
 * "Remove"). The form's Save button waits while an upload is under way.
 */
import { avatar, displayName } from './avatar.js';
import { h } from './dom.js';
import { setGallery } from './media.js';
import { ACCEPT, previewOf, refusal, uploadImage } from './upload.js';

const KINDS = {
  avatar: { title: 'Avatar', choose: 'Choose an avatar', remove: 'Remove avatar' },
  header: { title: 'Header image', choose: 'Choose a header image', remove: 'Remove header image' },
};

const choices = new WeakMap(); // profile form -> {avatar?, header?: id or null, busy: Set of kinds}

const nameOf = (p) => displayName(p) || `@${p.username}`;

// A picture that opens the lightbox on itself: a button holding content,
// labelled label, its original at url with alt text.
function viewable(content, label, pic, alt, cls) {
  const btn = h('button', { type: 'button', class: `picture ${cls}`, 'data-action': 'view-image',
    'data-index': '0', 'aria-haspopup': 'dialog', 'aria-label': label }, content);
  setGallery(btn, [{ url: pic.url, thumb_url: pic.thumb_url, alt }]);
  return btn;
}

// The header image across the top of p's profile card (a band of colour
// without one).
export function profileBanner(p) {
  const pic = p.header;
  if (!pic) return h('div', { class: 'banner empty', 'aria-hidden': 'true' });
  const img = h('img', { src: pic.url, alt: '', width: '1500', height: '500', decoding: 'async' });
  return h('div', { class: 'banner' },
    viewable(img, `View the header image of ${nameOf(p)}`, pic, `Header image of ${nameOf(p)}`, 'banner-btn'));
}

// p's avatar on the profile card: the picture opens the lightbox.
export function profileAvatar(p) {
  if (!p.avatar) return avatar(p, 'l');
  return viewable(avatar(p, 'l'), `View the avatar of ${nameOf(p)}`, p.avatar, `Avatar of ${nameOf(p)}`, 'avatar-btn');
}

// What the form's preview of kind shows: the picture chosen (src), or
// p's as it is, or none.
function preview(kind, p, src) {
  if (kind === 'avatar') {
    if (src === null) return avatar({ ...p, avatar: null }, 'l');
    if (!src) return avatar(p, 'l');
    return h('img', { class: 'avatar l', src, alt: '', width: '80', height: '80' });
  }
  const url = src === undefined ? p.header && p.header.thumb_url : src;
  return url ? h('img', { class: 'banner-preview', src: url, alt: '', width: '240', height: '80' })
    : h('span', { class: 'banner-preview banner empty' });
}

// One picker: preview, the file input and its label (a button), Remove,
// and a status line.
function picker(kind, p, form) {
  const k = KINDS[kind];
  const id = `pf-${kind}`;
  const box = h('span', { class: 'pf-preview' }, preview(kind, p));
  const status = h('p', { id: `${id}-status`, class: 'pf-status hint', 'aria-live': 'polite' });
  const input = h('input', { id, type: 'file', class: 'file-input', accept: ACCEPT, 'aria-describedby': `${id}-status` });
  const remove = h('button', { type: 'button', class: 'btn ghost small', 'data-action': `remove-${kind}` }, k.remove);
  remove.hidden = !p[kind];
  const c = choices.get(form);
  const busy = (on) => {
    if (on) c.busy.add(kind); else c.busy.delete(kind);
    form.querySelector('button[type=submit]').disabled = c.busy.size > 0;
  };
  const say = (text, error = false) => {
    status.textContent = text;
    status.classList.toggle('error', error);
  };
  input.addEventListener('change', async () => {
    const file = input.files[0];
    input.value = '';
    if (!file) return;
    const refused = refusal(file);
    if (refused) { say(refused, true); return; }
    busy(true);
    say(`Uploading ${file.name}…`);
    previewOf(file).then((src) => { if (src && c.busy.has(kind)) box.replaceChildren(preview(kind, p, src)); });
    const res = await uploadImage(file, (f) => say(`Uploading ${file.name}… ${Math.round(f * 100)}%`)).done;
    busy(false);
    if (res.error) { say(res.error, true); return; }
    c[kind] = res.media.id;
    box.replaceChildren(preview(kind, p, box.querySelector('img[src^="data:"]')?.src || res.media.thumb_url));
    remove.hidden = false;
    say(`${k.title} ready: save the profile to use it.`);
  });
  remove.addEventListener('click', () => {
    c[kind] = null;
    box.replaceChildren(preview(kind, p, null));
    remove.hidden = true;
    say(`${k.title} removed: save the profile to apply.`);
    input.focus();
  });
  return h('div', { class: 'pf-image' }, box,
    h('div', { class: 'pf-controls' },
      h('p', { class: 'pf-title' }, k.title),
      h('div', { class: 'row' }, input, h('label', { for: id, class: 'btn ghost small' }, k.choose), remove),
      status));
}

// The pickers of form (the profile form of p, one's own).
export function pictureFields(p, form) {
  choices.set(form, { busy: new Set() });
  return h('fieldset', { class: 'pf-images' }, h('legend', null, 'Pictures'),
    picker('avatar', p, form), picker('header', p, form));
}

// What the form changes of the pictures: {avatar?, header?} for the body
// of PATCH /api/me.
export function pictureChanges(form) {
  const c = choices.get(form) || {};
  const out = {};
  for (const kind of Object.keys(KINDS)) if (c[kind] !== undefined) out[kind] = c[kind];
  return out;
}
