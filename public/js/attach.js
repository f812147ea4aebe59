/*
 * Images attached to a post being written (the compose form, a reply
 * form, a quote): the "Add images" control is a real file input, in the
 * tab order but drawn as its label, an icon button. Each image chosen,
 * up to 4, is uploaded at once (upload.js) and shown as a tile: its
 * preview, its progress while it uploads, a text alternative (labelled,
 * up to 1,500 characters, counted) and a Remove button; an image that
 * cannot be used says why on its tile. The list (.attachments) tells
 * the form's counter (dom.js updateCounter) how many are ready
 * (data-ready) and whether the post must wait (data-waiting: an upload
 * under way, an alt text too long); the post takes the ready ones
 * (withImages) with their alt texts.
 */
import { charCount, h, overLimit, showMessage, updateCounter } from './dom.js';
import { icon } from './icons.js';
import { MEDIA_MAX, paint } from './media.js';
import { ACCEPT, previewOf, refusal, uploadImage } from './upload.js';

export const ALT_MAX = 1500; // characters of an alt text (docs/API.md)

let uid = 0; // unique ids of the alt fields
const uploads = new WeakMap(); // tile -> {state: 'uploading' | 'ready' | 'failed', media?, abort?}

// The "Add images" control: the file input (id) and its label.
export function imagePicker(id) {
  return [
    h('input', { id, type: 'file', class: 'file-input', accept: ACCEPT, multiple: '', 'data-attach': '' }),
    h('label', { for: id, class: 'icon-btn attach', title: 'Add images (up to 4)' },
      icon('image'), h('span', { class: 'sr-only' }, 'Add images')),
  ];
}

// The list the tiles go in, under the form's text.
export const imageList = () => h('ul', { class: 'attachments', 'aria-label': 'Images to post',
  'data-ready': '0', 'data-waiting': 'false' });

const tilesOf = (form) => [...form.querySelectorAll('.attachments > li.attachment')];
const stateOf = (li) => (uploads.get(li) || {}).state;

// The list's data and the picker follow the tiles; then the counter.
function sync(form) {
  const list = form.querySelector('.attachments');
  const tiles = tilesOf(form);
  const kept = tiles.filter((li) => stateOf(li) !== 'failed');
  list.dataset.ready = String(kept.filter((li) => stateOf(li) === 'ready').length);
  list.dataset.waiting = String(kept.some((li) => stateOf(li) === 'uploading' ||
    li.querySelector('.alt-count.over')));
  const input = form.querySelector('input[data-attach]');
  if (input) {
    input.disabled = kept.length >= MEDIA_MAX;
    input.nextElementSibling?.classList.toggle('disabled', input.disabled);
  }
  updateCounter(form);
}

function altCount(ta) {
  const count = ta.parentElement.querySelector('.alt-count');
  const over = overLimit(ta.value, ALT_MAX);
  count.replaceChildren(`${charCount(ta.value)} / ${ALT_MAX}`,
    h('span', { class: 'sr-only' }, over ? ' characters: too long' : ' characters'));
  count.classList.toggle('over', over);
}

function settle(li, form, result) {
  const status = li.querySelector('.att-status');
  li.querySelector('progress').hidden = true;
  li.classList.remove('uploading');
  if (result.error) {
    uploads.set(li, { state: 'failed' });
    li.classList.add('failed');
    status.textContent = result.error;
    li.querySelector('.att-alt').hidden = true;
  } else {
    uploads.set(li, { state: 'ready', media: result.media });
    li.classList.add('ready');
    status.textContent = 'Uploaded';
    const img = li.querySelector('.att-preview img');
    if (!img.getAttribute('src')) { // the browser could not draw it: the server's thumbnail
      paint(img, result.media.color);
      img.src = result.media.thumb_url;
    }
  }
  sync(form);
}

// A tile for file, its upload started (or refused at once).
function tile(file, form) {
  const id = `alt-${++uid}`;
  const img = h('img', { alt: '', width: '72', height: '72' });
  const bar = h('progress', { max: '1', value: '0', 'aria-label': `Uploading ${file.name}` });
  const ta = h('textarea', { id, class: 'alt-text', rows: '2', dir: 'auto', 'aria-describedby': `${id}-count`,
    placeholder: 'What is in the image, for people who cannot see it' });
  const li = h('li', { class: 'attachment uploading' },
    h('div', { class: 'att-preview' }, icon('image'), img),
    h('div', { class: 'att-main' },
      h('p', { class: 'att-head' }, h('span', { class: 'att-name', dir: 'auto' }, file.name),
        h('span', { class: 'att-status', 'aria-live': 'polite' }, 'Uploading…')),
      bar,
      h('div', { class: 'att-alt' },
        h('label', { for: id }, 'Image description (alt text)'), ta,
        h('span', { id: `${id}-count`, class: 'alt-count' }))),
    h('button', { type: 'button', class: 'icon-btn att-remove', 'data-action': 'remove-image',
      'aria-label': `Remove ${file.name}`, title: 'Remove image' }, icon('close')));
  altCount(ta);
  const refused = refusal(file);
  if (refused) {
    settle(li, form, { error: refused });
    return li;
  }
  previewOf(file).then((src) => {
    if (src) img.src = src;
  });
  const up = uploadImage(file, (f) => {
    bar.value = f;
    li.querySelector('.att-status').textContent = `Uploading… ${Math.round(f * 100)}%`;
  });
  uploads.set(li, { state: 'uploading', abort: up.abort });
  up.done.then((result) => {
    if (li.isConnected) settle(li, form, result);
  });
  return li;
}

// Adds the files chosen in input (a picker of a form), as many as fit.
function addFiles(input) {
  const form = input.form;
  const files = [...input.files];
  input.value = ''; // the same file again is a change again
  const room = MEDIA_MAX - tilesOf(form).filter((li) => stateOf(li) !== 'failed').length;
  if (files.length > room) {
    showMessage(room > 0 ? `A post can have up to ${MEDIA_MAX} images: the first ${room} chosen were added.`
      : `A post can have up to ${MEDIA_MAX} images.`);
  }
  const list = form.querySelector('.attachments');
  for (const f of files.slice(0, Math.max(0, room))) list.append(tile(f, form));
  sync(form);
}

// The Remove button of a tile: its upload stops; focus goes to the next
// tile's Remove, else the previous one's, else the picker (before the
// tile goes: focus stays in the form, which keeps it open).
function removeTile(btn) {
  const li = btn.closest('li.attachment');
  const form = li.closest('form');
  const u = uploads.get(li);
  if (u && u.abort && u.state === 'uploading') u.abort();
  const next = li.nextElementSibling || li.previousElementSibling;
  (next ? next.querySelector('.att-remove') : form.querySelector('input[data-attach]'))?.focus();
  li.remove();
  sync(form);
}

// body (of POST /api/tweet) with the form's uploaded images, in order,
// each {id, alt} or its id when it has no alt text.
export function withImages(form, body) {
  const media = tilesOf(form).filter((li) => stateOf(li) === 'ready').map((li) => {
    const alt = li.querySelector('.alt-text').value.trim();
    const { id } = uploads.get(li).media;
    return alt ? { id, alt } : id;
  });
  return media.length ? { ...body, media } : body;
}

// Empties the form's list (after its post went, or it was closed).
export function clearImages(form) {
  for (const li of tilesOf(form)) {
    const u = uploads.get(li);
    if (u && u.abort && u.state === 'uploading') u.abort();
    li.remove();
  }
  if (form.querySelector('.attachments')) sync(form);
}

// An input event: an alt text's counter follows it.
export function onAltInput(e) {
  if (!e.target.classList.contains('alt-text')) return;
  altCount(e.target);
  sync(e.target.form);
}

// The pickers and Remove buttons of every form, wherever it is.
export function initAttachments() {
  document.addEventListener('change', (e) => {
    if (e.target.matches('input[data-attach]')) addFiles(e.target);
  });
  document.addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-action=remove-image]');
    if (btn) removeTile(btn);
  });
}
