/*
 * A post's images as its card shows them: one to four in a grid (one at
 * full width, its height bounded; two side by side; three and four in
 * two rows), each a button that opens the lightbox (lightbox.js) on it.
 * Every image is its thumbnail (WebP, at most 400 px), loaded lazily,
 * with width and height set from its proportions so that nothing moves
 * when it arrives, its average colour behind it while it loads, and its
 * text alternative as alt ("Image" when it has none).
 * A grid remembers its images (galleryOf), and so does anything else
 * that opens the lightbox (setGallery: a profile's avatar and header).
 * A quote shows the quoted post's images small; the API's quote does not
 * carry them, so they come from the post itself (GET /api/tweet/<id>,
 * once per post and page, or the post when it is on screen).
 */
import { api, ok } from './api.js';
import { ownPath } from './avatar.js';
import { findTweet } from './state.js';

export const MEDIA_MAX = 4; // images of a post (docs/API.md)
const THUMB_MAX = 400;      // a thumbnail's longest side
const COLOR = /^#[0-9a-f]{6}$/i;

const galleries = new WeakMap(); // element with data-gallery -> its images

// The text alternative of image m, i of n: its alt, or a neutral name.
export function altOf(m, i = 0, n = 1) {
  if (m && typeof m.alt === 'string' && m.alt.trim()) return m.alt;
  return n > 1 ? `Image ${i + 1} of ${n}` : 'Image';
}

// The thumbnail's size of image m: [width, height].
export function thumbSize(m) {
  if (m.thumb_width > 0 && m.thumb_height > 0) return [m.thumb_width, m.thumb_height];
  const w = Number(m.width) || 1;
  const h = Number(m.height) || 1;
  const k = Math.min(1, THUMB_MAX / Math.max(w, h));
  return [Math.max(1, Math.round(w * k)), Math.max(1, Math.round(h * k))];
}

// img shows color (#rrggbb, an image's average) until its pixels come.
export function paint(img, color) {
  if (COLOR.test(color || '')) img.style.backgroundColor = color;
}

// The images of media that can be shown (addresses of ours), at most 4.
const usable = (media) => (Array.isArray(media) ? media : [])
  .filter((m) => m && ownPath(m.url) && ownPath(m.thumb_url)).slice(0, MEDIA_MAX);

// Makes el open the lightbox on items (its buttons' data-index says which).
export function setGallery(el, items) {
  el.dataset.gallery = '';
  galleries.set(el, items);
}

// The images a button opens, which one, and the element that holds
// them: {items, index, owner}, or null.
export function galleryOf(button) {
  const owner = button.closest('[data-gallery]');
  const items = owner && galleries.get(owner);
  if (!items) return null;
  return { items, index: Math.min(items.length - 1, Number(button.dataset.index) || 0), owner };
}

function tile(m, i, n) {
  const img = document.createElement('img');
  img.src = m.thumb_url;
  img.alt = altOf(m, i, n);
  [img.width, img.height] = thumbSize(m);
  img.loading = 'lazy';
  img.decoding = 'async';
  paint(img, m.color);
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'media-item';
  b.dataset.action = 'view-image';
  b.dataset.index = String(i);
  b.setAttribute('aria-haspopup', 'dialog');
  b.append(img);
  return b;
}

// el made the grid of list (usable images, one or more); small: a quote's.
function fill(el, list, small) {
  el.className = `media n${list.length}${small ? ' small' : ''}`;
  el.setAttribute('role', 'group');
  el.setAttribute('aria-label', list.length === 1 ? 'Image' : `${list.length} images`);
  el.replaceChildren(...list.map((m, i) => tile(m, i, list.length)));
  setGallery(el, list);
  return el;
}

// The grid of a post's images (the API's `media`), or null for none;
// small: a quote's.
export function mediaGrid(media, small = false) {
  const list = usable(media);
  return list.length ? fill(document.createElement('div'), list, small) : null;
}

const quoted = new Map(); // quoted post id -> promise of its usable images

function imagesOf(id) {
  let p = quoted.get(id);
  if (!p) {
    p = api('GET', `/api/tweet/${encodeURIComponent(id)}`).then((r) => {
      if (ok(r)) return usable(r.data && r.data.media);
      if (r.status === 404) return []; // deleted since: none to show
      quoted.delete(id); // asked again by the next card
      return [];
    });
    quoted.set(id, p);
  }
  return p;
}

// The images of quote q (an available quote), small: at once when they
// are known, else an empty box that becomes their grid once they come.
export function quoteMedia(q) {
  const id = String(q.id);
  const known = Array.isArray(q.media) ? q : findTweet(id);
  if (known) return mediaGrid(known.media, true);
  const box = document.createElement('div');
  box.className = 'quote-media';
  imagesOf(id).then((list) => { if (list.length) fill(box, list, true); });
  return box;
}
