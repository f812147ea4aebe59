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
 * - A 10 s poll (paused in hidden tabs) prepends new tweets until
 *   WebSockets arrive.
 */
'use strict';

const MAX_LEN = 280;
const PAGE = 50;
const POLL_MS = 10000;

const state = { me: null, tweets: [], ids: new Set(), next: null, fetching: false };
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
    h('p', { class: 'text' }, t.text));
  if (state.me && a.username === state.me.username) {
    li.append(h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'btn ghost small', 'data-action': 'edit' }, 'Edit')));
  }
  return li;
}

function renderTimeline() {
  el.timeline.replaceChildren(...state.tweets.map(renderTweet));
  renderFeedChrome();
}

function renderFeedChrome() {
  el.empty.hidden = state.tweets.length > 0;
  el.more.hidden = !state.next;
}

const findTweet = (id) => state.tweets.find((t) => String(t.id) === id);
const findNode = (id) => el.timeline.querySelector(`li[data-id="${CSS.escape(id)}"]`);

// Add tweets not loaded yet at the top ('start') or bottom ('end').
function addTweets(list, where) {
  const fresh = list.filter((t) => !state.ids.has(String(t.id)));
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
  return fresh.length;
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
  li.querySelector('.text').hidden = true;
  li.querySelector('.actions').hidden = true;
  li.append(form);
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
  focusEdit(replaceTweet(r.data));
}

/* ---------- actions ---------- */

function setUser(user) {
  state.me = user;
  renderSession();
  renderTimeline();
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
    addTweets([r.data], 'start');
  } else {
    fail(r);
  }
  updateCounter(el.compose);
}

// Fetch the newest page, prepend unseen tweets, pick up edits of others.
// mode: 'init' | 'manual' (Refresh button) | 'poll' (silent on errors).
async function loadNewest(mode) {
  if (state.fetching) return;
  state.fetching = true;
  el.refresh.disabled = true;
  const r = await api('GET', `/api/tweet?limit=${PAGE}`);
  state.fetching = false;
  el.refresh.disabled = false;
  el.timeline.querySelectorAll('time').forEach((n) => { n.textContent = relTime(n.getAttribute('datetime')); });
  if (!ok(r)) { if (mode !== 'poll') showMessage(errorMessage(r)); return; }
  const items = itemsOf(r);
  const unseen = items.filter((t) => !state.ids.has(String(t.id)));
  // Nothing loaded yet, or a gap between this page and what we have: start over.
  if (!state.tweets.length || (unseen.length === items.length && r.data.next)) {
    state.tweets = items;
    state.ids = new Set(items.map((t) => String(t.id)));
    state.next = r.data.next || null;
    renderTimeline();
    return;
  }
  for (const t of items) {
    const old = findTweet(String(t.id));
    const node = old && old.edited_at !== t.edited_at && findNode(String(t.id));
    if (node && !node.querySelector('.editor')) replaceTweet(t);
  }
  const added = addTweets(unseen, 'start');
  if (mode === 'manual') showMessage(added ? `${added} new post(s).` : 'No new posts.', 'info');
}

async function loadMore() {
  el.more.disabled = true;
  const r = await api('GET', `/api/tweet?limit=${PAGE}&before=${encodeURIComponent(state.next)}`);
  el.more.disabled = false;
  if (!ok(r)) { showMessage(errorMessage(r)); return; }
  state.next = r.data.next || null;
  addTweets(itemsOf(r), 'end');
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
  el.timeline.addEventListener('click', onTimelineClick);
  el.timeline.addEventListener('submit', onTimelineSubmit);
  document.addEventListener('input', (e) => {
    const form = e.target.form;
    if (form && form.querySelector('.count')) updateCounter(form);
  });
  document.addEventListener('keydown', onKey);
  el.refresh.addEventListener('click', () => loadNewest('manual'));
  el.more.addEventListener('click', loadMore);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) loadNewest('poll'); });

  updateCounter(el.compose);
  const me = await api('GET', '/api/me');
  if (me.status === 0) showMessage(errorMessage(me));
  state.me = ok(me) ? me.data : null;
  renderSession();
  await loadNewest('init');
  setInterval(() => { if (!document.hidden) loadNewest('poll'); }, POLL_MS);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
