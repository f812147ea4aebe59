/*
 * The lightbox: an image of a post (or a profile's avatar or header)
 * shown whole, at its original size as far as the screen allows, with
 * its text alternative under it, in a modal <dialog> (dialogs.js: focus
 * stays inside, Escape closes, focus goes back to the image). With
 * several images, Previous and Next (and the arrow keys) move between
 * them. A click anywhere outside the image and its controls closes it.
 * Its fade is motion: none under prefers-reduced-motion (style.css).
 */
import { h } from './dom.js';
import { openDialog } from './dialogs.js';
import { icon } from './icons.js';
import { altOf, galleryOf, paint } from './media.js';

const button = (cls, label, iconName) => h('button', { type: 'button', class: `icon-btn ${cls}`,
  'aria-label': label, title: label }, icon(iconName));

// Finds the button of image i of owner's images in the page as it is
// then: a live update may have drawn the post (or the profile) again
// while the lightbox was open, and focus goes back to the new button.
function finder(owner) {
  const li = owner.closest('li[data-id]');
  if (li) {
    const grid = owner.closest('.quote') ? '.quote .media' : '.tw-main > .media';
    return (i) => document.querySelector(`li[data-id="${CSS.escape(li.dataset.id)}"] ${grid} [data-index="${i}"]`);
  }
  const picture = ['avatar-btn', 'banner-btn'].find((c) => owner.classList.contains(c));
  return () => (picture ? document.querySelector(`.profile .${picture}`) : null);
}

// Opens the lightbox on the image of opener (a button of a gallery,
// media.js); false when it belongs to none.
export function openLightbox(opener) {
  const g = galleryOf(opener);
  if (!g) return false;
  const { owner, items } = g;
  let at = g.index;
  const n = items.length;
  const caption = h('figcaption', { class: 'lb-alt', dir: 'auto' });
  const prev = button('lb-prev', 'Previous image', 'prev');
  const next = button('lb-next', 'Next image', 'next');
  prev.hidden = next.hidden = n < 2;
  const close = h('button', { type: 'button', class: 'icon-btn lb-close', 'data-close': '',
    'aria-label': 'Close', title: 'Close' }, icon('close'));
  const find = finder(owner);
  const back = () => {
    const shown = owner.querySelector(`[data-index="${at}"]`);
    return (shown && shown.isConnected ? shown : find(at)) || opener;
  };
  const dialog = openDialog(n > 1 ? `Image 1 of ${n}` : 'Image',
    [close, h('figure', { class: 'lb-figure' }, h('img', { class: 'lb-img', alt: '' }), caption), prev, next],
    back, 'lightbox');
  const title = dialog.querySelector('h2');
  title.className = 'lb-title';

  const show = (i) => {
    at = Math.max(0, Math.min(n - 1, i));
    const m = items[at];
    // A new element each time: the previous image's pixels never show
    // under the next one's text.
    const fresh = h('img', { class: 'lb-img', src: m.url, alt: altOf(m, at, n) });
    if (m.width > 0 && m.height > 0) {
      fresh.width = m.width;
      fresh.height = m.height;
    }
    paint(fresh, m.color);
    dialog.querySelector('.lb-img').replaceWith(fresh);
    caption.textContent = m.alt && m.alt.trim() ? m.alt : '';
    caption.hidden = !caption.textContent;
    title.textContent = n > 1 ? `Image ${at + 1} of ${n}` : 'Image';
    const was = document.activeElement;
    prev.disabled = at === 0;
    next.disabled = at === n - 1;
    if (was && was.disabled) (was === prev ? next : prev).focus(); // at an end: the other way
  };
  show(at);
  prev.addEventListener('click', () => show(at - 1));
  next.addEventListener('click', () => show(at + 1));
  dialog.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft' && at > 0) { e.preventDefault(); show(at - 1); }
    else if (e.key === 'ArrowRight' && at < n - 1) { e.preventDefault(); show(at + 1); }
  });
  // Outside the image, its caption and the buttons: the backdrop, the
  // space around.
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog || e.target.classList.contains('lb-figure')) dialog.close();
  });
  return true;
}
