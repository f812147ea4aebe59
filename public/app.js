/*
 * Chorus web client (foundation version): plain JS, no framework, no build.
 * - index.html is the static skeleton; all behaviour is wired here with
 *   addEventListener (no inline script, so a strict CSP works).
 * - `state` holds the user (or null), the loaded tweets (newest first,
 *   deduplicated by id) and the `next` cursor for older ones.
 * - api(method, path, body) -> {status, data} never throws; a network
 *   failure is status 0 with a server-shaped {"error":{...}} body.
 * - renderTweet(t) builds one <li>; the list changes incrementally (prepend,
 *   append, replace one) so an open inline editor survives polling.
 * - User text is only ever inserted as text, never as HTML.
 * - Logged in, the page is live over a WebSocket (docs/REALTIME.md): new
 *   tweets of the people followed (and one's own) are inserted, and edits,
 *   like counts and deletions of the tweets on screen (subscribed, newest
 *   500) are applied. It resumes with ?since=<last seq> after a drop
 *   (backoff 1 s doubling to 30 s, with jitter). The GLOBAL timeline also
 *   has tweets of people not followed: those come with Refresh, or with a
 *   60 s poll (paused in hidden tabs) while there is no live connection.
 * - REST answers carry no version, events do: an event only applies when
 *   its version is newer than the one known for that tweet (REST = 0); a
 *   REST answer does not overwrite a tweet that an event (or our own
 *   action) changed after the request was sent.
 */
'use strict';

const MAX_LEN = 280;
const PAGE = 50;
const POLL_MS = 60000;        // fallback poll, only while not live
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const STABLE_MS = 5000;       // open this long before the backoff resets
const MAX_SUBS = 500;         // server limit of watched tweets
const SUB_CHUNK = 100;        // ids per message (inbound frames <= 4 KiB)

const state = {
  me: null, tweets: [], ids: new Set(), next: null, fetching: false, again: false,
  versions: new Map(), // tweet id -> last event version applied (REST: none = 0)
  touched: new Map(),  // tweet id -> tick of the last change not from REST
  gone: new Set(),     // ids deleted while on screen: never re-added
  view: null,          // the current route: {name, title, src, asc, ...}
  pending: [],         // new home-feed tweets held while scrolled down
  unread: 0,           // unread notifications (nav badge)
  following: null,     // lowercased usernames I follow (null: not loaded yet)
};
let routeGen = 0;      // bumped on every route change: late answers are dropped
let tick = 0;          // orders REST requests against other changes

// The live connection.
const live = {
  wanted: false,       // logged in: keep a connection up
  ws: null, url: null, open: false, everOpen: false,
  lastSeq: 0, attempt: 0, timer: 0, openedAt: 0,
  subscribed: new Set(),
};
const el = {}; // DOM references by camelCased id, filled in init()
let uid = 0;   // unique ids for editor textareas
let msgTimer = 0;

/* ---------- helpers ---------- */

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', cache: 'no-store',
                 headers: { Accept: 'application/json' } };
  // POST/PUT/PATCH must say JSON even without a body (docs/API.md).
  if (body !== undefined || method === 'POST' || method === 'PUT' || method === 'PATCH') {
    opts.headers['Content-Type'] = 'application/json';
  }
  if (body !== undefined) opts.body = JSON.stringify(body);
  try {
    const res = await fetch(path, opts);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
    return { status: res.status, data };
  } catch (e) {
    return { status: 0, data: { error: { code: 'network', message: 'Network error: server unreachable.' } } };
  }
}

const ok = (r) => r.status >= 200 && r.status < 300;
const errorMessage = (r) => (r.data && r.data.error && r.data.error.message) || `Request failed (HTTP ${r.status}).`;
const itemsOf = (r) => (r.data && r.data.items) || [];

// Build an element; string children become text nodes (safe for user text).
function h(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  n.append(...kids.filter((k) => k != null));
  return n;
}

function relTime(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = (Date.now() - t) / 1000;
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  if (s < 604800) return `${Math.floor(s / 86400)}d`;
  return new Date(t).toLocaleDateString();
}

const fullTime = (iso) => (iso ? new Date(iso).toLocaleString() : '');

function showMessage(text, kind = 'error') {
  el.msgText.textContent = text;
  el.msg.className = `msg ${kind}`;
  el.msg.hidden = false;
  clearTimeout(msgTimer);
  msgTimer = setTimeout(hideMessage, kind === 'error' ? 8000 : 4000);
}

function hideMessage() { el.msg.hidden = true; }

const setBusy = (form, busy) => form.querySelectorAll('button').forEach((b) => { b.disabled = busy; });

// Remaining-characters counter (Unicode code points), shared by compose and editors.
function updateCounter(form) {
  const ta = form.querySelector('textarea');
  const count = form.querySelector('.count');
  const left = MAX_LEN - [...ta.value].length;
  count.replaceChildren(String(left), h('span', { class: 'sr-only' }, ' characters left'));
  count.classList.toggle('warn', left >= 0 && left < 20);
  count.classList.toggle('over', left < 0);
  form.querySelector('button[type=submit]').disabled = left < 0 || !ta.value.trim();
}

// Handle a failed request from a logged-in action (401 = session gone).
function fail(r) {
  showMessage(errorMessage(r));
  if (r.status === 401 && state.me) setUser(null);
}

/* ---------- rendering ---------- */

function renderSession() {
  const inside = Boolean(state.me);
  el.session.hidden = !inside;
  el.auth.hidden = inside;
  el.compose.hidden = !inside;
  el.meName.textContent = inside ? `@${state.me.username}` : '';
  el.navNotifications.hidden = !inside;
  el.navProfile.hidden = !inside;
  if (inside) el.navProfile.setAttribute('href', userHref(state.me.username));
  renderBadge();
}

const userHref = (name) => `/u/${encodeURIComponent(name)}`;
const tweetHref = (id) => `/t/${encodeURIComponent(id)}`;

function renderBadge() {
  const n = state.me ? state.unread : 0;
  el.badge.hidden = n <= 0;
  el.badge.textContent = n > 99 ? '99+' : String(n);
  el.navNotifications.setAttribute('aria-label', n > 0 ? `Notifications (${n} unread)` : 'Notifications');
}

function renderTweet(t) {
  const a = t.author || {};
  const mine = state.me && a.username === state.me.username;
  const v = state.view;
  const li = h('li', { class: `tweet${v && v.name === 'tweet' && String(t.id) === v.id ? ' focus' : ''}`, 'data-id': String(t.id) },
    h('div', { class: 'meta' },
      h('a', { class: 'name', href: userHref(a.username || '') }, a.display_name || a.username || ''),
      h('span', { class: 'handle' }, `@${a.username || ''}`),
      h('span', { class: 'dot', 'aria-hidden': 'true' }, '·'),
      h('a', { class: 'when', href: tweetHref(t.id) },
        h('time', { datetime: t.created_at, title: fullTime(t.created_at) }, relTime(t.created_at))),
      t.edited_at ? h('span', { class: 'edited', title: `Edited ${fullTime(t.edited_at)}` }, '(edited)') : null),
    t.reply_to ? h('p', { class: 'reply-to' },
      h('a', { href: tweetHref(t.reply_to), 'data-parent': String(t.reply_to) }, replyLabel(String(t.reply_to)))) : null,
    h('p', { class: 'text' }, t.text),
    h('div', { class: 'foot' },
      h('span', { class: 'stats' }, ...statsNodes(t)),
      mine
        ? h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn ghost small', 'data-action': 'edit' }, 'Edit'),
          h('button', { type: 'button', class: 'btn ghost small danger', 'data-action': 'delete' }, 'Delete'))
        : null));
  return li;
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
function statsNodes(t) {
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
  return [like, reply];
}

function renderTimeline() {
  el.timeline.replaceChildren(...state.tweets.map(renderTweet));
  renderFeedChrome();
  syncSubscriptions();
}

const refreshTimes = () => el.timeline.querySelectorAll('time').forEach((n) => {
  n.textContent = relTime(n.getAttribute('datetime'));
});

function renderFeedChrome() {
  el.empty.hidden = state.tweets.length > 0;
  el.more.hidden = !state.next;
}

const findTweet = (id) => state.tweets.find((t) => String(t.id) === id);
const findNode = (id) => el.timeline.querySelector(`li[data-id="${CSS.escape(id)}"]`);

const touch = (id) => state.touched.set(String(id), ++tick);
const touchedSince = (id, t0) => (state.touched.get(String(id)) || 0) > t0;

// Timeline order: newest first by (created_at, id), as the server sorts.
// Both are fixed-width strings (RFC 3339 with ms, 24 hex), so they compare as text.
function newer(a, b) {
  if (a.created_at !== b.created_at) return a.created_at > b.created_at;
  return String(a.id) > String(b.id);
}

// Add tweets not loaded yet at the top ('start') or bottom ('end').
function addTweets(list, where) {
  const fresh = list.filter((t) => !state.ids.has(String(t.id)) && !state.gone.has(String(t.id)));
  fresh.forEach((t) => state.ids.add(String(t.id)));
  const nodes = fresh.map(renderTweet);
  if (where === 'start') {
    state.tweets = fresh.concat(state.tweets);
    el.timeline.prepend(...nodes);
  } else {
    state.tweets = state.tweets.concat(fresh);
    el.timeline.append(...nodes);
  }
  renderFeedChrome();
  syncSubscriptions();
  return fresh.length;
}

// Insert one unseen tweet at its place in the order. One older than every
// loaded tweet while older pages exist is left to "Load more".
function insertTweet(t) {
  const id = String(t.id);
  if (state.ids.has(id) || state.gone.has(id)) return false;
  const i = state.tweets.findIndex((x) => newer(t, x));
  if (i < 0 && state.next) return false;
  const node = renderTweet(t);
  if (i < 0) {
    state.tweets.push(t);
    el.timeline.append(node);
  } else {
    const before = findNode(String(state.tweets[i].id));
    state.tweets.splice(i, 0, t);
    if (before) before.before(node); else el.timeline.append(node);
  }
  state.ids.add(id);
  return true;
}

// Replace one tweet in state and DOM; returns the new node.
function replaceTweet(t) {
  const id = String(t.id);
  const i = state.tweets.findIndex((x) => String(x.id) === id);
  if (i >= 0) state.tweets[i] = t;
  const node = findNode(id);
  const fresh = renderTweet(t);
  if (node) node.replaceWith(fresh);
  return fresh;
}

// Apply newer data of a shown tweet. While its inline editor is open only
// the data (and the counts on screen) change, so Cancel/Save use fresh state
// and the draft survives.
function updateShown(t) {
  const id = String(t.id);
  const i = state.tweets.findIndex((x) => String(x.id) === id);
  if (i < 0) return;
  const node = findNode(id);
  if (node && node.querySelector('.editor')) {
    state.tweets[i] = t;
    node.querySelector('.stats').replaceChildren(...statsNodes(t));
  } else {
    replaceTweet(t);
  }
}

function removeTweet(id) {
  id = String(id);
  state.gone.add(id);
  if (!state.ids.has(id)) return;
  state.ids.delete(id);
  state.tweets = state.tweets.filter((t) => String(t.id) !== id);
  state.versions.delete(id);
  const node = findNode(id);
  if (node) {
    if (node.querySelector('.editor')) showMessage('The post you were editing was deleted.', 'info');
    node.remove();
  }
}

const sameTweet = (a, b) => a.text === b.text && a.edited_at === b.edited_at &&
  a.like_count === b.like_count && a.reply_count === b.reply_count &&
  a.liked_by_me === b.liked_by_me;

/* ---------- inline editor ---------- */

function openEditor(li) {
  const t = findTweet(li.dataset.id);
  if (!t || li.querySelector('.editor')) return;
  const tid = `edit-${++uid}`;
  const ta = h('textarea', { id: tid, rows: '3', 'aria-describedby': `${tid}-count` });
  ta.value = t.text;
  const form = h('form', { class: 'editor' },
    h('label', { for: tid, class: 'sr-only' }, 'Edit post'), ta,
    h('div', { class: 'row end' },
      h('span', { id: `${tid}-count`, class: 'count' }),
      h('button', { type: 'button', class: 'btn ghost small', 'data-action': 'cancel' }, 'Cancel'),
      h('button', { type: 'submit', class: 'btn small' }, 'Save')));
  const text = li.querySelector('.text');
  text.hidden = true;
  li.querySelector('.actions').hidden = true;
  text.after(form);
  updateCounter(form);
  ta.focus();
}

const focusEdit = (li) => li.querySelector('[data-action=edit]')?.focus();

function closeEditor(li) {
  const t = findTweet(li.dataset.id);
  if (t) focusEdit(replaceTweet(t));
}

async function saveEdit(form) {
  const li = form.closest('li');
  setBusy(form, true);
  const r = await api('PUT', `/api/tweet/${encodeURIComponent(li.dataset.id)}`,
    { text: form.querySelector('textarea').value });
  if (!ok(r)) {
    setBusy(form, false);
    updateCounter(form);
    fail(r);
    return;
  }
  if (state.gone.has(String(r.data.id))) return;
  touch(r.data.id);
  focusEdit(replaceTweet(r.data));
}

/* ---------- actions ---------- */

function setUser(user) {
  const was = state.me && state.me.username;
  state.me = user;
  if (!user || user.username !== was) state.unread = 0;
  renderSession();
  if (!user) stopLive();
  else if (user.username !== was) { stopLive(); startLive(); loadUnread(); loadFollowing(); }
  renderRoute();
}

async function authenticate(kind) {
  if (!el.auth.reportValidity()) return;
  setBusy(el.auth, true);
  const r = await api('POST', kind === 'register' ? '/api/register' : '/api/login',
    { username: el.authUser.value, password: el.authPass.value });
  setBusy(el.auth, false);
  if (!ok(r)) { showMessage(errorMessage(r)); return; }
  el.auth.reset();
  setUser(r.data);
  showMessage(kind === 'register' ? `Welcome to Chorus, @${r.data.username}!`
                                  : `Logged in as @${r.data.username}.`, 'info');
  el.composeText.focus();
}

async function logout() {
  el.logout.disabled = true;
  const r = await api('DELETE', '/api/login');
  el.logout.disabled = false;
  if (!ok(r) && r.status !== 401) { showMessage(errorMessage(r)); return; }
  setUser(null);
  showMessage('Logged out.', 'info');
  el.authUser.focus();
}

async function postTweet() {
  el.post.disabled = true;
  el.composeText.readOnly = true;
  const r = await api('POST', '/api/tweet', { text: el.composeText.value });
  el.composeText.readOnly = false;
  if (ok(r)) {
    el.composeText.value = '';
    touch(r.data.id);
    const v = state.view;
    if (v && (v.name === 'home' || v.name === 'global' ||
        (v.name === 'profile' && v.user.toLowerCase() === state.me.username.toLowerCase()))) {
      addTweets([r.data], 'start');
    } else {
      showMessage('Posted.', 'info');
    }
  } else {
    fail(r);
  }
  updateCounter(el.compose);
}

// Fetch the newest page and merge it: insert unseen tweets, apply changed
// ones (edits, counts), drop shown ones it proves deleted.
// mode: 'init' | 'manual' (Refresh button) | 'poll' (silent on errors)
//     | 'reload' (silent, and run again if a fetch is under way).
async function loadNewest(mode) {
  if (state.fetching) {
    if (mode === 'reload') state.again = true;
    return;
  }
  const v = state.view;
  if (!v || !v.src) return;
  state.fetching = true;
  el.refresh.disabled = true;
  const t0 = ++tick;
  const g = routeGen;
  let r;
  let head = null;
  if (v.name === 'tweet') {
    const [a, b] = await Promise.all([api('GET', `/api/tweet/${encodeURIComponent(v.id)}`),
      api('GET', withQuery(v.src, { limit: PAGE }))]);
    if (!ok(a)) r = a; else { r = b; head = a.data; }
  } else {
    r = await api('GET', withQuery(v.src, { limit: PAGE }));
  }
  if (g !== routeGen) return; // the route changed meanwhile: renderRoute reset the state
  state.fetching = false;
  el.refresh.disabled = false;
  refreshTimes();
  try {
    if (!ok(r)) {
      if (r.status === 404 && v.name === 'tweet') {
        el.empty.textContent = 'This post does not exist or was deleted.';
        el.empty.hidden = false;
      } else if (mode === 'init' || mode === 'manual') showMessage(errorMessage(r));
      return;
    }
    let items = itemsOf(r).filter((t) => !state.gone.has(String(t.id)));
    if (head) items = [head].concat(items); // the post, then its replies oldest first
    const unseen = items.filter((t) => !state.ids.has(String(t.id)));
    // Nothing loaded yet, a list in oldest-first order, or a gap between
    // this page and what we have: start over.
    if (!state.tweets.length || v.asc || (unseen.length === items.length && r.data.next)) {
      state.tweets = items;
      state.ids = new Set(items.map((t) => String(t.id)));
      state.next = r.data.next || null;
      renderTimeline();
      return;
    }
    const inPage = new Set(items.map((t) => String(t.id)));
    for (const t of items) {
      const old = findTweet(String(t.id));
      if (old && !sameTweet(old, t) && !touchedSince(t.id, t0)) updateShown(t);
    }
    // The page holds every tweet newer than its last one (all of them when
    // there is no next page): a shown tweet in that range missing from it,
    // not added after the request was sent, was deleted.
    const oldest = r.data.next ? items[items.length - 1] : null;
    const stale = state.tweets.filter((t) => !inPage.has(String(t.id)) &&
      !touchedSince(t.id, t0) && (!oldest || !newer(oldest, t)));
    stale.forEach((t) => removeTweet(t.id));
    let added = 0;
    for (const t of unseen) if (insertTweet(t)) added++;
    renderFeedChrome();
    syncSubscriptions();
    if (mode === 'manual') showMessage(added ? `${added} new post(s).` : 'No new posts.', 'info');
  } finally {
    if (state.again) { state.again = false; loadNewest('reload'); }
  }
}

async function loadMore() {
  el.more.disabled = true;
  const g = routeGen;
  const r = await api('GET', withQuery(state.view.src, { limit: PAGE, before: state.next }));
  if (g !== routeGen) return;
  el.more.disabled = false;
  if (!ok(r)) { showMessage(errorMessage(r)); return; }
  state.next = r.data.next || null;
  addTweets(itemsOf(r), 'end');
}

/* ---------- live updates (WebSocket) ---------- */

function setLiveStatus(text, on) {
  if (el.liveStatus.textContent !== text) el.liveStatus.textContent = text;
  el.liveStatus.classList.toggle('on', on);
}

function startLive() {
  if (live.wanted) return;
  live.wanted = true;
  live.attempt = 0;
  live.everOpen = false;
  setLiveStatus('Connecting…', false);
  connect();
}

function stopLive() {
  live.wanted = false;
  clearTimeout(live.timer);
  live.timer = 0;
  const ws = live.ws;
  live.ws = null;
  live.open = false;
  live.lastSeq = 0;
  live.subscribed.clear();
  if (ws) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try { ws.close(1000, 'logout'); } catch (e) { /* already closed */ }
  }
}

async function connect() {
  live.timer = 0;
  if (!live.wanted || live.ws) return;
  if (!live.url) {
    const r = await api('GET', '/api/config');
    if (!live.wanted || live.ws) return;
    if (!ok(r) || !r.data || typeof r.data.ws_url !== 'string') { scheduleReconnect(); return; }
    live.url = r.data.ws_url;
  }
  const url = live.lastSeq > 0
    ? `${live.url}${live.url.includes('?') ? '&' : '?'}since=${live.lastSeq}` : live.url;
  let ws;
  try { ws = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
  live.ws = ws;
  ws.onopen = () => onLiveOpen(ws);
  ws.onmessage = (e) => onLiveMessage(e);
  ws.onclose = () => onLiveClose(ws);
  ws.onerror = () => { /* a close event follows; it reconnects */ };
}

function onLiveOpen(ws) {
  if (ws !== live.ws) return;
  const resumed = live.everOpen;
  live.open = true;
  live.everOpen = true;
  live.openedAt = Date.now();
  live.subscribed.clear();  // a new connection watches nothing yet
  setLiveStatus('Live', true);
  syncSubscriptions();
  // After a drop: pick up what the resume cannot carry (counts of watched
  // tweets, posts of people not followed) from the newest page.
  if (resumed) loadNewest('reload');
}

async function onLiveClose(ws) {
  if (ws !== live.ws) return;
  const wasOpen = live.open;
  live.ws = null;
  live.open = false;
  live.subscribed.clear();
  if (!live.wanted) return;
  setLiveStatus('Reconnecting…', false);
  if (wasOpen && Date.now() - live.openedAt >= STABLE_MS) live.attempt = 0;
  if (!wasOpen) {
    // Refused before opening: maybe the session ended (401 at the upgrade).
    const me = await api('GET', '/api/me');
    if (!live.wanted || live.ws) return;
    if (me.status === 401) { setUser(null); showMessage('Your session ended. Please log in again.'); return; }
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  if (!live.wanted || live.timer) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** live.attempt);
  live.attempt = Math.min(live.attempt + 1, 10);
  const delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() * 0.5));
  live.timer = setTimeout(connect, delay);
}

// Reconnect at once when the network comes back.
function onOnline() {
  if (live.wanted && !live.ws && live.timer) {
    clearTimeout(live.timer);
    connect();
  }
}

function liveSend(msg) {
  if (live.ws && live.open && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify(msg));
}

// Watch the newest MAX_SUBS tweets on screen: send only the difference
// from what this connection already watches, in small frames.
function syncSubscriptions() {
  if (!live.open) return;
  const want = new Set(state.tweets.slice(0, MAX_SUBS).map((t) => String(t.id)));
  const drop = [...live.subscribed].filter((id) => !want.has(id));
  const add = [...want].filter((id) => !live.subscribed.has(id));
  for (let i = 0; i < drop.length; i += SUB_CHUNK) {
    liveSend({ type: 'unsubscribe', tweets: drop.slice(i, i + SUB_CHUNK) });
  }
  for (let i = 0; i < add.length; i += SUB_CHUNK) {
    liveSend({ type: 'subscribe', tweets: add.slice(i, i + SUB_CHUNK) });
  }
  drop.forEach((id) => live.subscribed.delete(id));
  add.forEach((id) => live.subscribed.add(id));
}

// The causal token (docs/READMODEL.md 4b): the newest event this page has
// seen live, sent with every request as the chorus_seen cookie, so a page
// the other server answers (behind a load balancer) includes it too. The
// server sets the same cookie on the answer to each of our writes.
function noteSeen(seq) {
  if (!(seq > 0)) return;
  const m = /(?:^|;\s*)chorus_seen=(\d+)/.exec(document.cookie);
  if (m && Number(m[1]) >= seq) return;
  document.cookie = `chorus_seen=${seq}; Path=/; Max-Age=60; SameSite=Lax`;
}

function onLiveMessage(e) {
  let msg;
  try { msg = JSON.parse(e.data); } catch (err) { return; }
  if (!msg || typeof msg !== 'object') return;
  const seq = Number(msg.seq) || 0;
  const data = msg.data || {};
  noteSeen(seq);
  if (msg.type === 'reload') {
    live.lastSeq = seq;
    loadNewest('reload');
    return;
  }
  if (seq > live.lastSeq) live.lastSeq = seq;
  switch (msg.type) {
    case 'tweet.created':
    case 'tweet.updated':
      if (data.tweet && data.tweet.id) applyTweetEvent(data.tweet, Number(data.version) || 0, msg.type);
      break;
    case 'tweet.deleted':
      if (data.id) {
        removeTweet(data.id);
        renderFeedChrome();
        syncSubscriptions();
      }
      break;
    case 'follow':
      onFollowEvent(data);
      break;
    case 'notification':
      if (data.notification) onNotification(data.notification);
      break;
    case 'like': // I liked or unliked a post, maybe in another tab
      if (data.tweet) applyLikeEvent(String(data.tweet), data.liked === true);
      break;
    default: // error, and events for servers only: not shown by this page
  }
}

function applyTweetEvent(tweet, version, type) {
  const id = String(tweet.id);
  if (state.gone.has(id)) return;
  const old = findTweet(id);
  if (!old) {
    if (type !== 'tweet.created') return; // not on screen
    const v = state.view;
    // Events carry liked_by_me false: a new tweet cannot be liked by me yet.
    const t = { ...tweet, liked_by_me: false };
    if (v && v.name === 'tweet' && String(t.reply_to) === v.id) {
      // A reply to the post on screen: the list is oldest first, append it
      // when the last page is loaded (else "Load more" brings it).
      if (state.next || state.ids.has(id)) return;
      state.versions.set(id, version);
      touch(id);
      addTweets([t], 'end');
      return;
    }
    if (!v || v.name !== 'home') return;
    // The hub also sends replies to a watched tweet: the home feed only
    // shows my own tweets and those of people I follow.
    const author = String((t.author && t.author.username) || '').toLowerCase();
    const mine = state.me && author === state.me.username.toLowerCase();
    if (!mine && (state.following ? !state.following.has(author) : t.reply_to)) return;
    state.versions.set(id, version);
    touch(id);
    if (window.scrollY > 200) { // scrolled down: do not move the page under the reader
      if (!state.pending.some((x) => String(x.id) === id)) state.pending.push(t);
      renderPending();
      return;
    }
    if (insertTweet(t)) {
      renderFeedChrome();
      syncSubscriptions();
    }
    return;
  }
  if (version <= (state.versions.get(id) || 0)) return;
  state.versions.set(id, version);
  touch(id);
  const t = { ...tweet, liked_by_me: old.liked_by_me };
  if (!sameTweet(old, t)) updateShown(t);
}

function applyLikeEvent(id, liked) {
  const old = findTweet(id);
  if (!old || state.gone.has(id) || old.liked_by_me === liked) return;
  // The count comes with its own tweet.updated event.
  updateShown({ ...old, liked_by_me: liked });
}

/* ---------- tweet actions: like, delete, new-tweets button ---------- */

async function toggleLike(li, btn) {
  const t = findTweet(li.dataset.id);
  if (!t) return;
  btn.disabled = true;
  const r = await api(t.liked_by_me ? 'DELETE' : 'POST', `/api/tweet/${encodeURIComponent(t.id)}/like`);
  btn.disabled = false;
  if (!ok(r)) { fail(r); return; }
  if (state.gone.has(String(r.data.id))) return;
  touch(r.data.id);
  updateShown(r.data);
  findNode(String(r.data.id))?.querySelector('[data-action=like]')?.focus();
}

async function deleteTweet(li, btn) {
  const id = li.dataset.id;
  // eslint-disable-next-line no-alert
  if (!window.confirm('Delete this post? This cannot be undone.')) return;
  btn.disabled = true;
  const r = await api('DELETE', `/api/tweet/${encodeURIComponent(id)}`);
  btn.disabled = false;
  if (!ok(r) && r.status !== 404) { fail(r); return; }
  removeTweet(id);
  renderFeedChrome();
  syncSubscriptions();
  showMessage('Post deleted.', 'info');
  el.feedTitle.focus();
}

function renderPending() {
  state.pending = state.pending.filter((t) => !state.ids.has(String(t.id)) && !state.gone.has(String(t.id)));
  const n = state.pending.length;
  el.newTweets.hidden = n === 0;
  el.newTweets.textContent = `Show ${n} new ${n === 1 ? 'post' : 'posts'}`;
}

function showPending() {
  const list = state.pending;
  state.pending = [];
  for (const t of list) insertTweet(t);
  renderPending();
  renderFeedChrome();
  syncSubscriptions();
  window.scrollTo(0, 0);
  el.feedTitle.focus();
}

/* ---------- routing ---------- */

function withQuery(src, params) {
  const q = Object.entries(params).filter(([, v]) => v != null)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return q ? `${src}${src.includes('?') ? '&' : '?'}${q}` : src;
}

// Same-origin app links are followed without a page load; modified clicks
// (new tab, middle click) and API links keep their normal behaviour.
function onLinkClick(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}

function navigate(url) {
  if (url !== location.pathname + location.search) history.pushState(null, '', url);
  renderRoute(true);
}

function routeOf(path, search) {
  const q = new URLSearchParams(search);
  let m;
  if (path === '/' || path === '/index.html') {
    return state.me ? { name: 'home', title: 'Home', src: '/api/feed' }
      : { name: 'global', title: 'Global timeline', src: '/api/tweet' };
  }
  if (path === '/global') return { name: 'global', title: 'Global timeline', src: '/api/tweet' };
  if ((m = path.match(/^\/u\/([A-Za-z0-9_]{1,30})\/(followers|following)\/?$/))) {
    return { name: 'people', user: m[1], rel: m[2], title: m[2] === 'followers' ? 'Followers' : 'Following' };
  }
  if ((m = path.match(/^\/u\/([A-Za-z0-9_]{1,30})\/?$/))) {
    return { name: 'profile', user: m[1], title: 'Posts', src: `/api/users/${encodeURIComponent(m[1])}/tweets` };
  }
  if ((m = path.match(/^\/t\/([0-9a-fA-F]{24})\/?$/))) {
    return { name: 'tweet', id: m[1], title: 'Post and replies', src: `/api/tweet/${m[1]}/replies`, asc: true };
  }
  if (path === '/search') {
    const text = (q.get('q') || '').trim();
    return { name: 'search', q: text, title: 'Posts', src: text ? withQuery('/api/search', { q: text, type: 'tweets' }) : null };
  }
  if (path === '/notifications') return { name: 'notifications', title: 'Notifications' };
  return { name: 'notfound', title: 'Page not found' };
}

// Show the view of the current URL: reset the list, draw the view's header, load.
async function renderRoute(moved) {
  const v = routeOf(location.pathname, location.search);
  routeGen++;
  state.view = v;
  state.tweets = [];
  state.ids = new Set();
  state.next = null;
  state.versions = new Map();
  state.pending = [];
  state.fetching = false;
  state.again = false;
  renderPending();
  el.timeline.replaceChildren();
  el.empty.textContent = v.name === 'tweet' ? 'No replies yet.' : 'No posts yet.';
  el.view.replaceChildren();
  el.feedTitle.textContent = v.title;
  el.compose.hidden = !state.me || !(v.name === 'home' || v.name === 'global');
  el.feed.hidden = !v.src;
  document.title = v.name === 'home' || v.name === 'global' ? `${v.title} · Chorus` : 'Chorus';
  for (const [id, name] of [['navHome', 'home'], ['navGlobal', 'global'], ['navSearch', 'search'],
    ['navNotifications', 'notifications']]) {
    if (v.name === name && !(name === 'global' && location.pathname === '/')) el[id].setAttribute('aria-current', 'page');
    else el[id].removeAttribute('aria-current');
  }
  if (v.name === 'profile' && state.me && v.user.toLowerCase() === state.me.username.toLowerCase()) {
    el.navProfile.setAttribute('aria-current', 'page');
  } else el.navProfile.removeAttribute('aria-current');
  renderFeedChrome();
  el.empty.hidden = true;
  syncSubscriptions();
  if (moved) window.scrollTo(0, 0);

  const g = routeGen;
  if (v.name === 'profile') loadProfile(v, g);
  else if (v.name === 'tweet') renderReplyBox(v);
  else if (v.name === 'search') renderSearch(v, g);
  else if (v.name === 'notifications') loadNotifications(g);
  else if (v.name === 'people') loadPeople(v, g);
  else if (v.name === 'notfound') {
    el.view.append(h('div', { class: 'card' }, h('h2', { tabindex: '-1' }, 'Page not found'),
      h('p', null, h('a', { href: '/' }, 'Go to the home page'))));
  }
  if (moved) focusView();
  if (v.src) await loadNewest('init');
}

function focusView() {
  const head = el.view.querySelector('h2') || (el.feed.hidden ? null : el.feedTitle);
  if (head) { if (!head.hasAttribute('tabindex')) head.setAttribute('tabindex', '-1'); head.focus({ preventScroll: true }); }
}

/* ---------- views: profile, tweet, search, notifications ---------- */

async function loadProfile(v, g) {
  el.view.append(h('div', { class: 'card' }, h('p', { class: 'hint' }, 'Loading profile…')));
  const r = await api('GET', `/api/users/${encodeURIComponent(v.user)}`);
  if (g !== routeGen) return;
  if (!ok(r)) {
    el.view.replaceChildren(h('div', { class: 'card' },
      h('h2', { tabindex: '-1' }, r.status === 404 ? 'No such user' : 'Could not load this profile'),
      h('p', { class: 'hint' }, r.status === 404 ? `There is no user @${v.user}.` : errorMessage(r))));
    el.feed.hidden = r.status === 404;
    return;
  }
  renderProfile(r.data);
}

function renderProfile(p) {
  const v = state.view;
  v.profile = p;
  document.title = `${p.display_name || p.username} (@${p.username}) · Chorus`;
  const self = state.me && state.me.username.toLowerCase() === p.username.toLowerCase();
  const n = (x) => Number(x) || 0;
  const card = h('div', { class: 'card profile' },
    h('h2', { tabindex: '-1' }, p.display_name || p.username),
    h('p', { class: 'handle' }, `@${p.username}`),
    p.bio ? h('p', { class: 'bio' }, p.bio) : null,
    h('p', { class: 'counts' },
      h('span', null, h('strong', null, String(n(p.tweet_count))), n(p.tweet_count) === 1 ? ' post' : ' posts'),
      h('a', { href: `${userHref(p.username)}/followers` }, h('strong', null, String(n(p.followers_count))),
        n(p.followers_count) === 1 ? ' follower' : ' followers'),
      h('a', { href: `${userHref(p.username)}/following` }, h('strong', null, String(n(p.following_count))), ' following')),
    state.me && !self
      ? h('div', { class: 'row' }, h('button', { type: 'button', class: p.followed_by_me ? 'btn ghost' : 'btn',
        'data-action': 'follow', 'aria-pressed': p.followed_by_me ? 'true' : 'false' },
      p.followed_by_me ? 'Unfollow' : 'Follow'))
      : null,
    self ? profileForm(p) : null);
  el.view.replaceChildren(card);
}

function profileForm(p) {
  const name = h('input', { id: 'pf-name', type: 'text', required: '', maxlength: '50' });
  name.value = p.display_name || '';
  const bio = h('textarea', { id: 'pf-bio', rows: '2', maxlength: '160' });
  bio.value = p.bio || '';
  return h('details', { class: 'edit-profile' },
    h('summary', null, 'Edit profile'),
    h('form', { class: 'profile-form' },
      h('label', { for: 'pf-name' }, 'Display name'), name,
      h('label', { for: 'pf-bio' }, 'Bio'), bio,
      h('p', { class: 'hint' }, 'Up to 160 characters'),
      h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'btn' }, 'Save profile'))));
}

async function saveProfile(form) {
  const display = form.querySelector('#pf-name').value;
  if (!display.trim()) { showMessage('The display name cannot be blank.'); return; }
  setBusy(form, true);
  const r = await api('PATCH', '/api/me', { display_name: display, bio: form.querySelector('#pf-bio').value });
  setBusy(form, false);
  if (!ok(r)) { fail(r); return; }
  if (state.view.name !== 'profile') return;
  state.me = { ...state.me, display_name: r.data.display_name, bio: r.data.bio };
  renderProfile(r.data);
  showMessage('Profile saved.', 'info');
  el.view.querySelector('h2')?.focus();
}

async function toggleFollow(btn) {
  const v = state.view;
  const p = v.profile;
  if (!p) return;
  btn.disabled = true;
  const g = routeGen;
  const r = await api(p.followed_by_me ? 'DELETE' : 'POST', `/api/users/${encodeURIComponent(p.username)}/follow`);
  if (g !== routeGen) return;
  btn.disabled = false;
  if (!ok(r)) { fail(r); return; }
  renderProfile(r.data);
  el.view.querySelector('[data-action=follow]')?.focus();
}

function renderReplyBox(v) {
  if (!state.me) {
    el.view.append(h('p', { class: 'hint card' }, 'Log in to reply.'));
    return;
  }
  const ta = h('textarea', { id: 'reply-text', rows: '2', 'aria-describedby': 'reply-count' });
  const form = h('form', { class: 'card compose reply-box' },
    h('label', { for: 'reply-text' }, 'Your reply'), ta,
    h('div', { class: 'row end' },
      h('span', { id: 'reply-count', class: 'count' }),
      h('button', { type: 'submit', class: 'btn' }, 'Reply')));
  el.view.append(form);
  updateCounter(form);
  form.dataset.replyTo = v.id;
}

async function postReply(form) {
  const ta = form.querySelector('textarea');
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  ta.readOnly = true;
  const g = routeGen;
  const r = await api('POST', '/api/tweet', { text: ta.value, reply_to: form.dataset.replyTo });
  ta.readOnly = false;
  if (ok(r)) {
    ta.value = '';
    if (g === routeGen) {
      touch(r.data.id);
      if (!state.next) addTweets([r.data], 'end');
      // The parent's reply count (an event may also bring it: take the
      // answer only when nothing changed the parent meanwhile).
      const t0 = ++tick;
      const p = await api('GET', `/api/tweet/${encodeURIComponent(form.dataset.replyTo)}`);
      const parent = findTweet(form.dataset.replyTo);
      if (ok(p) && g === routeGen && parent && !touchedSince(parent.id, t0)) {
        updateShown({ ...p.data, liked_by_me: parent.liked_by_me });
      }
    }
    showMessage('Reply posted.', 'info');
  } else {
    fail(r);
  }
  updateCounter(form);
}

async function renderSearch(v, g) {
  const input = h('input', { id: 'search-q', type: 'search', name: 'q', maxlength: '100', required: '',
    autocapitalize: 'none', spellcheck: 'false' });
  input.value = v.q;
  const users = h('ul', { class: 'users', 'aria-label': 'Users' });
  el.view.append(
    h('form', { class: 'card search', role: 'search' },
      h('h2', { tabindex: '-1' }, v.q ? `Search: ${v.q}` : 'Search'),
      h('label', { for: 'search-q' }, 'Search people and posts'),
      h('div', { class: 'row nowrap' }, input, h('button', { type: 'submit', class: 'btn' }, 'Search'))),
    v.q ? h('section', { class: 'results', 'aria-labelledby': 'users-title' },
      h('h2', { id: 'users-title' }, 'People'), users) : null);
  if (!v.q) { if (!document.activeElement || document.activeElement === document.body) input.focus(); return; }
  pagedList(users, (before) => withQuery('/api/search', { q: v.q, type: 'users', limit: 20, before }),
    renderUser, 'No people found.', g);
}

function renderUser(u) {
  return h('li', { class: 'user' },
    h('a', { class: 'name', href: userHref(u.username) }, u.display_name || u.username),
    ' ', h('span', { class: 'handle' }, `@${u.username}`),
    u.bio ? h('p', { class: 'bio' }, u.bio) : null);
}

// Fills list with pages of url(before) (items rendered by render), and a
// "Load more" button under it while the answer has a next cursor.  Returns
// after the first page; false if it could not be loaded.
async function pagedList(list, url, render, emptyText, g) {
  const more = h('button', { type: 'button', class: 'btn ghost more-items', hidden: '' }, 'Load more');
  list.after(more);
  let next = null;
  const load = async () => {
    more.disabled = true;
    const r = await api('GET', url(next));
    if (g !== routeGen) return false;
    more.disabled = false;
    if (!ok(r)) {
      if (!next) list.replaceChildren(h('li', { class: 'hint' }, errorMessage(r)));
      else fail(r);
      return false;
    }
    const items = itemsOf(r);
    if (!next && !items.length) list.replaceChildren(h('li', { class: 'hint' }, emptyText));
    else list.append(...items.map(render));
    next = r.data.next || null;
    more.hidden = !next;
    return true;
  };
  more.addEventListener('click', load);
  return load();
}

async function loadPeople(v, g) {
  const list = h('ul', { class: 'users', 'aria-labelledby': 'people-title' });
  el.view.append(h('div', { class: 'card' },
    h('h2', { id: 'people-title', tabindex: '-1' }, v.rel === 'followers' ? `People following @${v.user}` : `People @${v.user} follows`),
    h('p', null, h('a', { href: userHref(v.user) }, `Back to @${v.user}`)),
    list));
  document.title = `${v.title} of @${v.user} · Chorus`;
  await pagedList(list, (before) => withQuery(`/api/users/${encodeURIComponent(v.user)}/${v.rel}`, { limit: PAGE, before }),
    renderUser, v.rel === 'followers' ? 'No followers yet.' : 'Not following anyone yet.', g);
}

function notificationText(n) {
  if (n.type === 'follow') return ' followed you';
  if (n.type === 'like') return ' liked your post';
  if (n.type === 'reply') return ' replied to your post';
  return ` ${n.type}`;
}

function renderNotification(n) {
  const a = n.actor || {};
  return h('li', { class: `note${n.read ? '' : ' unread'}` },
    h('a', { class: 'name', href: userHref(a.username || '') }, a.display_name || a.username || ''),
    notificationText(n),
    n.tweet ? h('span', null, ' · ', h('a', { href: tweetHref(n.tweet) }, n.type === 'reply' ? 'see the reply' : 'see the post')) : null,
    ' · ', h('time', { datetime: n.created_at, title: fullTime(n.created_at) }, relTime(n.created_at)),
    n.read ? null : h('span', { class: 'sr-only' }, ' (unread)'));
}

async function loadNotifications(g) {
  const list = h('ol', { id: 'notes', class: 'notes' });
  el.view.append(h('div', { class: 'row between' }, h('h2', { tabindex: '-1' }, 'Notifications')), list);
  if (!state.me) { list.append(h('li', { class: 'hint' }, 'Log in to see your notifications.')); return; }
  if (await pagedList(list, (before) => withQuery('/api/notifications', { limit: PAGE, before }),
    renderNotification, 'No notifications yet.', g)) markRead();
}

async function markRead() {
  const r = await api('POST', '/api/notifications/read', {});
  if (ok(r)) { state.unread = 0; renderBadge(); }
}

async function loadUnread() {
  const who = state.me && state.me.username;
  const r = await api('GET', withQuery('/api/notifications', { limit: 1 }));
  if (!ok(r) || !state.me || state.me.username !== who) return;
  if (state.view && state.view.name === 'notifications') return; // marked read there
  state.unread = Number(r.data && r.data.unread) || 0;
  renderBadge();
}

// Who I follow, to tell followed authors' tweets from replies to watched tweets.
async function loadFollowing() {
  const who = state.me && state.me.username;
  state.following = null;
  const set = new Set();
  let next = null;
  for (let i = 0; i < 50; i++) {
    const r = await api('GET', withQuery(`/api/users/${encodeURIComponent(who)}/following`, { limit: 200, before: next }));
    if (!ok(r) || !state.me || state.me.username !== who) return;
    itemsOf(r).forEach((u) => set.add(String(u.username).toLowerCase()));
    next = r.data.next;
    if (!next) break;
  }
  state.following = set;
}

function onFollowEvent(d) {
  if (!state.me) return;
  const me = state.me.username.toLowerCase();
  if (String(d.follower || '').toLowerCase() === me && state.following) {
    const who = String(d.followee || '').toLowerCase();
    if (d.following) state.following.add(who); else state.following.delete(who);
  }
  // Counts on a profile on screen.
  const v = state.view;
  if (v && v.name === 'profile' && v.profile) {
    const name = v.profile.username.toLowerCase();
    if (name === String(d.followee || '').toLowerCase() || name === String(d.follower || '').toLowerCase()) {
      const g = routeGen;
      api('GET', `/api/users/${encodeURIComponent(v.profile.username)}`).then((r) => {
        if (ok(r) && g === routeGen && !el.view.querySelector('.edit-profile[open]') &&
            !el.view.contains(document.activeElement)) renderProfile(r.data);
      });
    }
  }
}

function onNotification(n) {
  const list = document.getElementById('notes');
  if (state.view && state.view.name === 'notifications' && list) {
    list.querySelector('li.hint')?.remove();
    list.prepend(renderNotification(n));
    markRead();
    return;
  }
  state.unread++;
  renderBadge();
}

function onViewSubmit(e) {
  e.preventDefault();
  const form = e.target;
  if (form.classList.contains('search')) {
    const q = form.querySelector('input').value.trim();
    if (q) navigate(`/search?q=${encodeURIComponent(q)}`);
  } else if (form.classList.contains('profile-form')) {
    saveProfile(form);
  } else if (form.classList.contains('reply-box')) {
    if (!form.querySelector('button[type=submit]').disabled) postReply(form);
  }
}

function onViewClick(e) {
  const btn = e.target.closest('button[data-action]');
  if (btn && btn.dataset.action === 'follow') toggleFollow(btn);
}

/* ---------- wiring ---------- */

function onTimelineClick(e) {
  const btn = e.target.closest('button[data-action]');
  if (!btn) return;
  const li = btn.closest('li');
  if (btn.dataset.action === 'edit') openEditor(li);
  else if (btn.dataset.action === 'cancel') closeEditor(li);
  else if (btn.dataset.action === 'like') toggleLike(li, btn);
  else if (btn.dataset.action === 'delete') deleteTweet(li, btn);
}

function onTimelineSubmit(e) {
  e.preventDefault();
  if (!e.target.querySelector('button[type=submit]').disabled) saveEdit(e.target);
}

// Ctrl/Cmd+Enter submits a compose/edit form; Escape cancels an edit.
function onKey(e) {
  const form = e.target.closest('form');
  if (!form || e.target.tagName !== 'TEXTAREA') return;
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  else if (e.key === 'Escape' && form.classList.contains('editor')) closeEditor(form.closest('li'));
}

async function init() {
  for (const n of document.querySelectorAll('[id]')) {
    el[n.id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = n;
  }
  el.auth.addEventListener('submit', (e) => { e.preventDefault(); authenticate('login'); });
  el.register.addEventListener('click', () => authenticate('register'));
  el.logout.addEventListener('click', logout);
  el.msgClose.addEventListener('click', hideMessage);
  el.compose.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!el.post.disabled) postTweet();
  });
  el.liveStatus = h('span', { id: 'live-status', class: 'live', role: 'status', 'aria-live': 'polite' });
  el.session.prepend(el.liveStatus);
  window.addEventListener('online', onOnline);
  el.timeline.addEventListener('click', onTimelineClick);
  el.timeline.addEventListener('submit', onTimelineSubmit);
  document.addEventListener('input', (e) => {
    const form = e.target.form;
    if (form && form.querySelector('.count')) updateCounter(form);
  });
  document.addEventListener('keydown', onKey);
  el.refresh.addEventListener('click', () => loadNewest('manual'));
  el.newTweets.addEventListener('click', showPending);
  el.view.addEventListener('submit', onViewSubmit);
  el.view.addEventListener('click', onViewClick);
  document.addEventListener('click', onLinkClick);
  window.addEventListener('popstate', () => renderRoute());
  el.more.addEventListener('click', loadMore);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !live.open) loadNewest('poll');
  });

  updateCounter(el.compose);
  const me = await api('GET', '/api/me');
  if (me.status === 0) showMessage(errorMessage(me));
  state.me = ok(me) ? me.data : null;
  renderSession();
  if (state.me) { startLive(); loadUnread(); loadFollowing(); }
  await renderRoute();
  setInterval(() => {
    if (document.hidden) return;
    if (live.open) refreshTimes();
    else loadNewest('poll');
  }, POLL_MS);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
