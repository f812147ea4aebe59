/*
 * Avatars and the names people show. A user's `avatar_url`, when the API
 * gives one, is the picture; otherwise the avatar is drawn here: the
 * first character of the name on a colour derived from the username, so
 * the same person always looks the same, without any request. The
 * colours are CSS classes (.hue-0 .. .hue-11 in style.css: white text at
 * a contrast of at least 4.5:1 in light and dark).
 */

const HUES = 12;

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

// The avatar of u ({username, display_name, avatar_url?}); size one of
// 's' (20 px), 'm' (40 px), 'l' (80 px). Decorative: the name next to it
// says who it is.
export function avatar(u, size = 'm') {
  const user = u || {};
  if (typeof user.avatar_url === 'string' && user.avatar_url) {
    const img = document.createElement('img');
    img.className = `avatar ${size}`;
    img.src = user.avatar_url;
    img.alt = '';
    img.loading = 'lazy';
    img.decoding = 'async';
    return img;
  }
  const span = document.createElement('span');
  span.className = `avatar ${size} hue-${hueOf(user.username)}`;
  span.setAttribute('aria-hidden', 'true');
  span.textContent = firstChar((displayName(user) || user.username || '?').trim()).toUpperCase();
  return span;
}
