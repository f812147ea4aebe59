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
};
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
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
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
}

function renderTweet(t) {
  const a = t.author || {};
  const li = h('li', { class: 'tweet', 'data-id': String(t.id) },
    h('div', { class: 'meta' },
      h('span', { class: 'name' }, a.display_name || a.username || ''),
      h('span', { class: 'handle' }, `@${a.username || ''}`),
      h('span', { class: 'dot', 'aria-hidden': 'true' }, '·'),
      h('time', { datetime: t.created_at, title: fullTime(t.created_at) }, relTime(t.created_at)),
      t.edited_at ? h('span', { class: 'edited', title: `Edited ${fullTime(t.edited_at)}` }, '(edited)') : null),
    h('p', { class: 'text' }, t.text),
    h('div', { class: 'foot' },
      h('span', { class: 'stats' }, statsText(t)),
      state.me && a.username === state.me.username
        ? h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn ghost small', 'data-action': 'edit' }, 'Edit'))
        : null));
  return li;
}

function statsText(t) {
  const likes = Number(t.like_count) || 0;
  const replies = Number(t.reply_count) || 0;
  let s = `${likes} ${likes === 1 ? 'like' : 'likes'}`;
  if (replies > 0) s += ` · ${replies} ${replies === 1 ? 'reply' : 'replies'}`;
  return s;
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
    node.querySelector('.stats').textContent = statsText(t);
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
  renderSession();
  renderTimeline();
  if (!user) stopLive();
  else if (user.username !== was) { stopLive(); startLive(); }
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
    addTweets([r.data], 'start');
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
  state.fetching = true;
  el.refresh.disabled = true;
  const t0 = ++tick;
  const r = await api('GET', `/api/tweet?limit=${PAGE}`);
  state.fetching = false;
  el.refresh.disabled = false;
  refreshTimes();
  try {
    if (!ok(r)) { if (mode === 'init' || mode === 'manual') showMessage(errorMessage(r)); return; }
    const items = itemsOf(r).filter((t) => !state.gone.has(String(t.id)));
    const unseen = items.filter((t) => !state.ids.has(String(t.id)));
    // Nothing loaded yet, or a gap between this page and what we have: start over.
    if (!state.tweets.length || (unseen.length === items.length && r.data.next)) {
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
  const r = await api('GET', `/api/tweet?limit=${PAGE}&before=${encodeURIComponent(state.next)}`);
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

function onLiveMessage(e) {
  let msg;
  try { msg = JSON.parse(e.data); } catch (err) { return; }
  if (!msg || typeof msg !== 'object') return;
  const seq = Number(msg.seq) || 0;
  const data = msg.data || {};
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
    default: // notification, follow, error: not shown by this page (yet)
  }
}

function applyTweetEvent(tweet, version, type) {
  const id = String(tweet.id);
  if (state.gone.has(id)) return;
  const old = findTweet(id);
  if (!old) {
    if (type !== 'tweet.created') return; // not on screen
    state.versions.set(id, version);
    touch(id);
    // Events carry liked_by_me false: a new tweet cannot be liked by me yet.
    if (insertTweet({ ...tweet, liked_by_me: false })) {
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

/* ---------- wiring ---------- */

function onTimelineClick(e) {
  const btn = e.target.closest('button[data-action]');
  if (!btn) return;
  const li = btn.closest('li');
  if (btn.dataset.action === 'edit') openEditor(li);
  else if (btn.dataset.action === 'cancel') closeEditor(li);
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
  el.more.addEventListener('click', loadMore);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !live.open) loadNewest('poll');
  });

  updateCounter(el.compose);
  const me = await api('GET', '/api/me');
  if (me.status === 0) showMessage(errorMessage(me));
  state.me = ok(me) ? me.data : null;
  renderSession();
  if (state.me) startLive();
  await loadNewest('init');
  setInterval(() => {
    if (document.hidden) return;
    if (live.open) refreshTimes();
    else loadNewest('poll');
  }, POLL_MS);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
