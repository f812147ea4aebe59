/*
 * Avatars and the names people show. A user's `avatar` ({id, url,
 * thumb_url} or null, docs/API.md) is the picture, shown from its
 * thumbnail; without one, or when the picture cannot be loaded, the
 * avatar is drawn here: the first character of the name on a colour
 * derived from the username, so the same person always looks the same,
 * without any request. The colours are CSS classes (.hue-0 .. .hue-11 in
 * style.css: white text at a contrast of at least 4.5:1 in light and
 * dark); a picture shows its person's colour while it loads.
 */

const HUES = 12;
const PX = { xs: 16, s: 22, m: 42, l: 80 }; // as style.css draws them

// A registration's display name is the username: such a name is no name
// of its own, and cards show the handle alone rather than twice.
export function displayName(u) {
  const name = (u && u.display_name) || '';
  return name && name !== u.username ? name : '';
}

// The first user-perceived character of s (a family emoji is one).
function firstChar(s) {
  if (typeof Intl !== 'undefined' && Intl.Segmenter) {
    for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(s)) return segment;
  }
  return [...s][0] || '';
}

export function hueOf(username) {
  let x = 0;
  for (const c of String(username || '').toLowerCase()) x = (x * 31 + c.codePointAt(0)) >>> 0;
  return x % HUES;
}

// An image address of ours: a path on this origin (the API's /media/...).
export const ownPath = (s) => typeof s === 'string' && s.startsWith('/') && !s.startsWith('//');

// The drawn avatar of user. Its letter is drawn by style.css from
// data-initial: it is no part of the text around it (a name's, a line's).
function drawn(user, size) {
  const span = document.createElement('span');
  span.className = `avatar ${size} hue-${hueOf(user.username)}`;
  span.setAttribute('aria-hidden', 'true');
  span.dataset.initial = firstChar((displayName(user) || user.username || '?').trim()).toUpperCase();
  return span;
}

// The avatar of u ({username, display_name, avatar}); size one of
// 'xs' (16 px), 's' (22 px), 'm' (42 px), 'l' (80 px). Decorative: the name next to it
// says who it is.
export function avatar(u, size = 'm') {
  const user = u || {};
  const pic = user.avatar;
  if (!pic || !ownPath(pic.thumb_url)) return drawn(user, size);
  const img = document.createElement('img');
  img.className = `avatar ${size} hue-${hueOf(user.username)}`;
  img.src = pic.thumb_url;
  img.alt = '';
  img.width = PX[size] || PX.m;
  img.height = img.width;
  img.loading = 'lazy';
  img.decoding = 'async';
  img.addEventListener('error', () => img.replaceWith(drawn(user, size)), { once: true });
  return img;
}
