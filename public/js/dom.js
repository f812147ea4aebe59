/*
 * Building the page: element references, the h() helper, the message
 * line, the character counter, and the rendering of a tweet and a user
 * that every view shares.
 * - User text is only ever inserted as text, never as HTML, and carries
 *   dir="auto" so a right-to-left post reads right to left.
 * - renderTweet(t) builds one <li>; the lists change incrementally
 *   (timeline.js), so an open inline editor survives updates.
 */
import { avatar, displayName } from './avatar.js';
import { icon } from './icons.js';
import { mediaGrid, quoteMedia } from './media.js';
import { state, findTweet } from './state.js';

// A post's limits (docs/API.md): 280 user-perceived characters (extended
// grapheme clusters, as the server counts them with ICU) and 4 bytes of
// UTF-8 per character.
export const MAX_LEN = 280;
const MAX_BYTES = MAX_LEN * 4;

// DOM references by camelCased id (#nav-home -> el.navHome), filled by bindElements().
export const el = {};

export function bindElements() {
  for (const n of document.querySelectorAll('[id]')) {
    el[n.id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = n;
  }
}

// Build an element; string children become text nodes (safe for user text).
export function h(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  n.append(...kids.filter((k) => k != null));
  return n;
}

export function relTime(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = (Date.now() - t) / 1000;
  if (s < 60) return 'now';
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  if (s < 604800) return `${Math.floor(s / 86400)}d`;
  return new Date(t).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

export const fullTime = (iso) => (iso ? new Date(iso).toLocaleString() : '');

export const userHref = (name) => `/u/${encodeURIComponent(name)}`;
export const tweetHref = (id) => `/t/${encodeURIComponent(id)}`;
export const tagHref = (tag) => `/tags/${encodeURIComponent(tag)}`;

// Whether the reader asked for less motion (smooth scrolling is motion).
export const calm = () => window.matchMedia('(prefers-reduced-motion: reduce)').matches;
export const scrollToTop = () => window.scrollTo({ top: 0, behavior: calm() ? 'auto' : 'smooth' });

/* ---------- the message line (#msg) ---------- */

let msgTimer = 0;

export function showMessage(text, kind = 'error') {
  el.msgText.textContent = text;
  el.msg.className = `msg ${kind}`;
  el.msg.hidden = false;
  clearTimeout(msgTimer);
  msgTimer = setTimeout(hideMessage, kind === 'error' ? 8000 : 4000);
}

export function hideMessage() {
  clearTimeout(msgTimer);
  el.msg.hidden = true;
}

/* ---------- forms ---------- */

export const setBusy = (form, busy) => form.querySelectorAll('button').forEach((b) => { b.disabled = busy; });

const segmenter = typeof Intl !== 'undefined' && Intl.Segmenter
  ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;
const encoder = new TextEncoder();

// The length of s as the server counts it: user-perceived characters.
export function charCount(s) {
  if (!segmenter) return [...s].length;
  let n = 0;
  for (const _ of segmenter.segment(s)) n++; // eslint-disable-line no-unused-vars
  return n;
}

// Whether s is over max characters, or over their byte bound (long
// emoji sequences).
export const overLimit = (s, max) => charCount(s) > max || encoder.encode(s).length > max * 4;

// Remaining-characters counter, shared by compose, replies and editors.
// Over the byte bound (long emoji sequences) the text is over too. A form
// with images attached (attach.js: its list's data-ready, data-waiting)
// may post them without text, and waits while they upload.
export function updateCounter(form) {
  const ta = form.querySelector('textarea:not(.alt-text)');
  const count = form.querySelector('.count');
  const left = MAX_LEN - charCount(ta.value);
  const tooBig = encoder.encode(ta.value).length > MAX_BYTES;
  const over = left < 0 || tooBig;
  count.replaceChildren(String(left), h('span', { class: 'sr-only' },
    tooBig && left >= 0 ? ' characters left, but the post is too long' : ' characters left'));
  count.classList.toggle('warn', !over && left < 20);
  count.classList.toggle('over', over);
  const images = form.querySelector('.attachments');
  const ready = images ? Number(images.dataset.ready) || 0 : 0;
  const waiting = Boolean(images) && images.dataset.waiting === 'true';
  form.querySelector('button[type=submit]').disabled = over || waiting || (!ta.value.trim() && !ready);
}

/* ---------- tweets and users ---------- */

// The name and handle of a user (display name first when there is one,
// else the handle alone, once).
export function nameNodes(u, nameClass = 'name') {
  const user = u || {};
  const name = displayName(user);
  return [
    h('a', { class: nameClass, href: userHref(user.username || ''), dir: 'auto' }, name || `@${user.username || ''}`),
    name ? h('span', { class: 'handle' }, `@${user.username || ''}`) : null,
  ];
}

export function renderTweet(t) {
  const a = t.author || {};
  const mine = Boolean(state.me) && a.username === state.me.username;
  const v = state.view;
  const focus = Boolean(v) && v.name === 'tweet' && String(t.id) === v.id;
  const rb = t.reposted_by;
  return h('li', { class: `tweet${focus ? ' focus' : ''}`, 'data-id': String(t.id) },
    rb ? h('p', { class: 'reposted-by' }, icon('repost'),
      h('a', { href: userHref(rb.username), dir: 'auto' }, displayName(rb) || `@${rb.username}`),
      ' reposted') : null,
    h('div', { class: 'tw' },
      avatar(a, 'm'),
      h('div', { class: 'tw-main' },
        h('div', { class: 'meta' },
          ...nameNodes(a),
          h('span', { class: 'dot', 'aria-hidden': 'true' }, '·'),
          h('a', { class: 'when', href: tweetHref(t.id) },
            h('time', { datetime: t.created_at, title: fullTime(t.created_at) }, relTime(t.created_at))),
          t.edited_at ? h('button', { type: 'button', class: 'edited', 'data-action': 'history',
            title: `Edited ${fullTime(t.edited_at)}: show the edit history`, 'aria-haspopup': 'dialog' }, 'edited') : null),
        t.reply_to ? replyLine(t) : null,
        h('p', { class: 'text', dir: 'auto' }, ...textNodes(t.text, t.entities)),
        mediaGrid(t.media),
        t.quote ? quoteCard(t.quote) : null,
        h('div', { class: 'stats actions', role: 'group', 'aria-label': 'Post actions' }, ...statsNodes(t, mine)))));
}

// A URL as shown: without its scheme, long ones cut to 32 characters.
export function shortUrl(url) {
  const bare = url.replace(/^https?:\/\//i, '');
  const cps = [...bare];
  return cps.length > 32 ? `${cps.slice(0, 31).join('')}…` : bare;
}

// The text with its entities (code-point offsets) as links: a mention to
// the profile, a hashtag to its tag page, a URL to itself. DOM nodes
// only: user text never becomes markup.
export function textNodes(text, entities) {
  const cps = [...(text || '')];
  const out = [];
  let at = 0;
  for (const e of entities || []) {
    if (!(e.start >= at && e.end > e.start && e.end <= cps.length)) continue;
    if (e.start > at) out.push(cps.slice(at, e.start).join(''));
    const shown = cps.slice(e.start, e.end).join('');
    if (e.type === 'mention') {
      out.push(h('a', { class: 'mention', href: userHref(e.username) }, shown));
    } else if (e.type === 'hashtag') {
      out.push(h('a', { class: 'hashtag', href: tagHref(e.tag) }, shown));
    } else if (e.type === 'url' && /^https?:\/\//i.test(e.url)) {
      out.push(h('a', { class: 'url', href: e.url, rel: 'noopener noreferrer nofollow', title: e.url }, shortUrl(shown)));
    } else {
      out.push(shown);
    }
    at = e.end;
  }
  if (at < cps.length) out.push(cps.slice(at).join(''));
  return out;
}

// The tweet a quote quotes (its images small), or a note that it was
// deleted.
export function quoteCard(q) {
  if (!q.available) return h('div', { class: 'quote unavailable' }, 'This post is unavailable.');
  const a = q.author || {};
  return h('div', { class: 'quote' },
    h('p', { class: 'meta' }, avatar(a, 's'), ...nameNodes(a), h('span', { class: 'dot', 'aria-hidden': 'true' }, '·'),
      h('a', { class: 'when', href: tweetHref(q.id) }, h('time', { datetime: q.created_at, title: fullTime(q.created_at) }, relTime(q.created_at)))),
    h('p', { class: 'text', dir: 'auto' }, q.text),
    quoteMedia(q));
}

// "Replying to @x" with x's avatar: the author the API names
// (reply_to_user), or the parent on screen; a parent deleted says so. No
// request.
export function replyLine(t) {
  const id = String(t.reply_to);
  let user = t.reply_to_user;
  if (!user && t.reply_to_user === undefined) {
    const shown = findTweet(id);
    user = shown && shown.author;
  }
  const who = user && user.username;
  const gone = state.gone.has(id) || (!who && t.reply_to_user === null);
  return h('p', { class: 'reply-to' },
    h('a', { href: tweetHref(id), 'data-parent': id },
      ...(who && !gone ? ['Replying to ', avatar(user, 'xs'), `@${who}`]
        : [gone ? 'Replying to a deleted post' : 'Replying to a post'])));
}

// One action: icon, the count (when there is one), and for screen
// readers what it does and counts ("Like, 3 likes").
function action(kind, iconName, label, count, one, many, attrs, on) {
  const n = Number(count) || 0;
  const kids = [icon(iconName), h('span', { class: 'sr-only' }, `${label}, `),
    h('span', { class: 'n' }, n ? String(n) : ''),
    h('span', { class: 'sr-only' }, `${n ? '' : '0'} ${n === 1 ? one : many}`)];
  if (!attrs) return h('span', { class: `act ${kind}` }, ...kids);
  return h('button', { type: 'button', class: `act ${kind}${on ? ' on' : ''}`, title: label, ...attrs }, ...kids);
}

const tool = (name, iconName, label, extra) => h('button', {
  type: 'button', class: `act tool ${name}`, 'data-action': name, title: label, 'aria-label': label, ...extra,
}, icon(iconName));

// The actions of a post: reply, repost, like, quote with their counts,
// share a link, and edit and delete on one's own.
export function statsNodes(t, mine = Boolean(state.me) && t.author && t.author.username === state.me.username) {
  const me = Boolean(state.me);
  const nodes = [
    action('replies', 'reply', 'Reply', t.reply_count, 'reply', 'replies',
      me ? { 'data-action': 'reply', 'aria-expanded': 'false' } : null),
    action('repost', 'repost', t.reposted_by_me ? 'Undo repost' : 'Repost', t.repost_count, 'repost', 'reposts',
      me ? { 'data-action': 'repost', 'aria-pressed': t.reposted_by_me ? 'true' : 'false' } : null, t.reposted_by_me),
    action('like', 'heart', t.liked_by_me ? 'Unlike' : 'Like', t.like_count, 'like', 'likes',
      me ? { 'data-action': 'like', 'aria-pressed': t.liked_by_me ? 'true' : 'false' } : null, t.liked_by_me),
    action('quotes', 'quote', 'Quote', t.quote_count, 'quote', 'quotes',
      me ? { 'data-action': 'quote', 'aria-haspopup': 'dialog' } : null),
    tool('share', 'link', 'Copy link to this post'),
  ];
  if (mine) nodes.push(tool('edit', 'edit', 'Edit'), tool('delete', 'trash', 'Delete', { class: 'act tool delete danger' }));
  return nodes;
}

// A person in a list: avatar, name and handle, bio; with follow (a user
// summary of people to follow) a Follow button.
export function renderUser(u, follow = false) {
  return h('li', { class: 'user', 'data-user': u.username },
    avatar(u, 'm'),
    h('div', { class: 'user-main' },
      h('p', { class: 'meta' }, ...nameNodes(u)),
      u.bio ? h('p', { class: 'bio', dir: 'auto' }, u.bio) : null),
    follow === true ? h('button', { type: 'button', class: 'btn small', 'data-action': 'follow-user',
      'data-user': u.username, 'aria-pressed': 'false', 'aria-label': `Follow @${u.username}` }, 'Follow') : null);
}
