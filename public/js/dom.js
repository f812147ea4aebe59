/*
 * Building the page: element references, the h() helper, the message
 * line, the character counter, and the rendering of a tweet and a user
 * that every view shares.
 * - User text is only ever inserted as text, never as HTML.
 * - renderTweet(t) builds one <li>; the lists change incrementally
 *   (timeline.js), so an open inline editor survives updates.
 */
import { api, ok } from './api.js';
import { state, findTweet } from './state.js';

const MAX_LEN = 280; // code points in a post

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
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  if (s < 604800) return `${Math.floor(s / 86400)}d`;
  return new Date(t).toLocaleDateString();
}

export const fullTime = (iso) => (iso ? new Date(iso).toLocaleString() : '');

export const userHref = (name) => `/u/${encodeURIComponent(name)}`;
export const tweetHref = (id) => `/t/${encodeURIComponent(id)}`;
export const tagHref = (tag) => `/tags/${encodeURIComponent(tag)}`;

/* ---------- the message line (#msg) ---------- */

let msgTimer = 0;

export function showMessage(text, kind = 'error') {
  el.msgText.textContent = text;
  el.msg.className = `msg ${kind}`;
  el.msg.hidden = false;
  clearTimeout(msgTimer);
  msgTimer = setTimeout(hideMessage, kind === 'error' ? 8000 : 4000);
}

export function hideMessage() { el.msg.hidden = true; }

/* ---------- forms ---------- */

export const setBusy = (form, busy) => form.querySelectorAll('button').forEach((b) => { b.disabled = busy; });

// Remaining-characters counter (Unicode code points), shared by compose, replies and editors.
export function updateCounter(form) {
  const ta = form.querySelector('textarea');
  const count = form.querySelector('.count');
  const left = MAX_LEN - [...ta.value].length;
  count.replaceChildren(String(left), h('span', { class: 'sr-only' }, ' characters left'));
  count.classList.toggle('warn', left >= 0 && left < 20);
  count.classList.toggle('over', left < 0);
  form.querySelector('button[type=submit]').disabled = left < 0 || !ta.value.trim();
}

/* ---------- tweets and users ---------- */

export function renderTweet(t) {
  const a = t.author || {};
  const mine = state.me && a.username === state.me.username;
  const v = state.view;
  const li = h('li', { class: `tweet${v && v.name === 'tweet' && String(t.id) === v.id ? ' focus' : ''}`, 'data-id': String(t.id) },
    t.reposted_by ? h('p', { class: 'reposted-by' }, h('span', { 'aria-hidden': 'true' }, '↻ '),
      h('a', { href: userHref(t.reposted_by.username) }, t.reposted_by.display_name || t.reposted_by.username),
      ' reposted') : null,
    h('div', { class: 'meta' },
      h('a', { class: 'name', href: userHref(a.username || '') }, a.display_name || a.username || ''),
      h('span', { class: 'handle' }, `@${a.username || ''}`),
      h('span', { class: 'dot', 'aria-hidden': 'true' }, '·'),
      h('a', { class: 'when', href: tweetHref(t.id) },
        h('time', { datetime: t.created_at, title: fullTime(t.created_at) }, relTime(t.created_at))),
      t.edited_at ? h('button', { type: 'button', class: 'edited', 'data-action': 'history',
        title: `Edited ${fullTime(t.edited_at)}: show the edit history`, 'aria-haspopup': 'dialog' }, '(edited)') : null),
    t.reply_to ? h('p', { class: 'reply-to' },
      h('a', { href: tweetHref(t.reply_to), 'data-parent': String(t.reply_to) }, replyLabel(String(t.reply_to)))) : null,
    h('p', { class: 'text' }, ...textNodes(t.text, t.entities)),
    t.quote ? quoteCard(t.quote) : null,
    h('div', { class: 'foot' },
      h('span', { class: 'stats' }, ...statsNodes(t)),
      state.me
        ? h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn ghost small', 'data-action': 'quote', 'aria-haspopup': 'dialog' }, 'Quote'),
          mine ? h('button', { type: 'button', class: 'btn ghost small', 'data-action': 'edit' }, 'Edit') : null,
          mine ? h('button', { type: 'button', class: 'btn ghost small danger', 'data-action': 'delete' }, 'Delete') : null)
        : null));
  return li;
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

// The tweet a quote quotes, or a note that it was deleted.
export function quoteCard(q) {
  if (!q.available) return h('div', { class: 'quote card unavailable' }, 'This post is unavailable.');
  const a = q.author || {};
  return h('div', { class: 'quote card' },
    h('p', { class: 'meta' },
      h('a', { class: 'name', href: userHref(a.username || '') }, a.display_name || a.username || ''),
      ' ', h('span', { class: 'handle' }, `@${a.username || ''}`), ' · ',
      h('a', { href: tweetHref(q.id) }, h('time', { datetime: q.created_at }, relTime(q.created_at)))),
    h('p', { class: 'text' }, q.text));
}

// "Replying to @x": the parent's author, looked up once per parent id.
const parents = new Map(); // id -> username, '' while loading, null when deleted
function replyLabel(id) {
  const shown = findTweet(id);
  if (shown && shown.author) parents.set(id, shown.author.username);
  if (!parents.has(id)) {
    parents.set(id, '');
    api('GET', `/api/tweet/${encodeURIComponent(id)}`).then((r) => {
      if (ok(r)) parents.set(id, r.data.author.username);
      else if (r.status === 404) parents.set(id, null);
      else { parents.delete(id); return; }
      document.querySelectorAll(`.reply-to a[data-parent="${CSS.escape(id)}"]`).forEach((a) => {
        a.textContent = replyLabel(id);
      });
    });
  }
  const who = parents.get(id);
  if (who) return `Replying to @${who}`;
  return who === null ? 'Replying to a deleted post' : 'Replying to a post';
}

// Like button (or count when logged out) and the replies link.
export function statsNodes(t) {
  const likes = Number(t.like_count) || 0;
  const replies = Number(t.reply_count) || 0;
  const likeText = `${likes} ${likes === 1 ? 'like' : 'likes'}`;
  const like = state.me
    ? h('button', { type: 'button', class: `like${t.liked_by_me ? ' on' : ''}`, 'data-action': 'like',
      'aria-pressed': t.liked_by_me ? 'true' : 'false', title: t.liked_by_me ? 'Unlike' : 'Like' },
    h('span', { 'aria-hidden': 'true' }, t.liked_by_me ? '♥ ' : '♡ '), likeText)
    : h('span', { class: 'likes' }, likeText);
  const reply = h('a', { class: 'replies', href: tweetHref(t.id) },
    `${replies} ${replies === 1 ? 'reply' : 'replies'}`);
  const reposts = Number(t.repost_count) || 0;
  const repostText = `${reposts} ${reposts === 1 ? 'repost' : 'reposts'}`;
  const repost = state.me
    ? h('button', { type: 'button', class: `repost${t.reposted_by_me ? ' on' : ''}`, 'data-action': 'repost',
      'aria-pressed': t.reposted_by_me ? 'true' : 'false', title: t.reposted_by_me ? 'Undo repost' : 'Repost' },
    h('span', { 'aria-hidden': 'true' }, '↻ '), repostText)
    : h('span', { class: 'reposts' }, repostText);
  const quotes = Number(t.quote_count) || 0;
  const quote = h('span', { class: 'quotes' }, `${quotes} ${quotes === 1 ? 'quote' : 'quotes'}`);
  return [like, reply, repost, quote];
}

export function renderUser(u) {
  return h('li', { class: 'user' },
    h('a', { class: 'name', href: userHref(u.username) }, u.display_name || u.username),
    ' ', h('span', { class: 'handle' }, `@${u.username}`),
    u.bio ? h('p', { class: 'bio' }, u.bio) : null);
}
