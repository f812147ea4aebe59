/*
 * The feed views (home, global, and the list part of every other view
 * that has one): loading and merging pages into the timeline, the compose
 * form, and what one does to a tweet in the list (edit inline, like,
 * delete).
 * - The GLOBAL timeline also has tweets of people not followed: those come
 *   with Refresh, or with the fallback poll (main.js) while there is no
 *   live connection.
 */
import { api, errorMessage, itemsOf, ok, PAGE, withQuery } from './api.js';
import { clearImages, imageList, imagePicker, withImages } from './attach.js';
import { displayName } from './avatar.js';
import { el, h, setBusy, showMessage, tweetHref, updateCounter } from './dom.js';
import { syncSubscriptions } from './live.js';
import { fail } from './session.js';
import { findTweet, nextTick, routeGen, state, touch, touchedSince } from './state.js';
import { renderOnboarding } from './suggest.js';
import {
  addTweets, asItem, findNode, insertTweet, newer, refreshTimes, removeTweet, renderFeedChrome,
  renderTimeline, replaceTweet, sameTweet, showPending, tweetDeleted, uniqueItems, updateShown,
} from './timeline.js';
import { openHistory, openQuote } from './dialogs.js';
import { openReply, postReply, toggleReply } from './tweet.js';

let uid = 0; // unique ids for editor textareas

export function initFeed() {
  el.composeText.after(imageList());
  el.post.parentElement.prepend(...imagePicker('compose-file'));
  el.compose.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!el.post.disabled) postTweet();
  });
  el.timeline.addEventListener('click', onTimelineClick);
  el.timeline.addEventListener('submit', onTimelineSubmit);
  el.refresh.addEventListener('click', () => loadNewest('manual'));
  el.newTweets.addEventListener('click', showPending);
  el.more.addEventListener('click', loadMore);
}

/* ---------- loading ---------- */

// Fetch the newest page and merge it: insert unseen tweets, apply changed
// ones (edits, counts), drop shown ones it proves deleted.
// mode: 'init' | 'manual' (Refresh button) | 'poll' (silent on errors)
//     | 'reload' (silent, and run again if a fetch is under way).
export async function loadNewest(mode) {
  if (state.fetching) {
    if (mode === 'reload') state.again = true;
    return;
  }
  const v = state.view;
  if (!v || !v.src) return;
  state.fetching = true;
  el.refresh.disabled = true;
  const t0 = nextTick();
  const g = routeGen();
  let r;
  let head = null;
  if (v.name === 'tweet') {
    const [a, b] = await Promise.all([api('GET', `/api/tweet/${encodeURIComponent(v.id)}`),
      api('GET', withQuery(v.src, { limit: PAGE }))]);
    if (!ok(a)) r = a; else { r = b; head = a.data; }
  } else {
    r = await api('GET', withQuery(v.src, { limit: PAGE }));
  }
  if (g !== routeGen()) return; // the route changed meanwhile: renderRoute reset the state
  state.fetching = false;
  el.refresh.disabled = false;
  refreshTimes();
  try {
    if (!ok(r)) {
      if (r.status === 404 && v.name === 'tweet') {
        if (!state.tweets.length) missingPost();
      } else if (r.status === 404 && v.name === 'profile') {
        // The profile's own card says there is no such user.
      } else if (mode === 'init' || mode === 'manual') showMessage(errorMessage(r));
      return;
    }
    let items = uniqueItems(itemsOf(r));
    if (head) items = [head].concat(items); // the post, then its replies oldest first
    const unseen = items.filter((t) => !state.ids.has(String(t.id)));
    // The view's first page, a list in oldest-first order, or a gap
    // between this page and what we have: start over. Items that came
    // live before the first page stay where the page reaches (its
    // request may have been read before they were committed).
    if (!state.loaded || v.asc || (unseen.length === items.length && r.data.next)) {
      const draft = document.getElementById('reply-text');
      const kept = draft ? draft.value : '';
      const reach = r.data.next ? items[items.length - 1] : null;
      const inPage = new Set(items.map((t) => String(t.id)));
      const early = state.loaded || v.asc ? [] : state.tweets.filter((t) => !inPage.has(String(t.id)) &&
        (!reach || newer(t, reach)));
      state.tweets = early.length ? items.concat(early).sort((a, b) => (newer(a, b) ? -1 : newer(b, a) ? 1 : 0)) : items;
      state.loaded = true;
      state.ids = new Set(state.tweets.map((t) => String(t.id)));
      state.next = r.data.next || null;
      renderTimeline();
      if (head) {
        const words = [...head.text];
        const said = words.length > 40 ? `${words.slice(0, 40).join('').trimEnd()}…` : head.text;
        document.title = `${displayName(head.author) || `@${head.author.username}`}: “${said}” · Chorus`;
        if (state.me) openReply(findNode(String(head.id)), { page: true, text: kept });
      }
      if (v.name === 'home' && !state.tweets.length && mode === 'init') renderOnboarding(g);
      return;
    }
    const inPage = new Set(items.map((t) => String(t.id)));
    for (const t of items) {
      const old = findTweet(String(t.id));
      if (!old || sameTweet(old, t) || touchedSince(t.id, t0)) continue;
      if (newer(t, old)) insertTweet(t); // reposted since: it moves up
      else updateShown(t);
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

// A post's page whose post does not exist: said once, with no reply box.
function missingPost() {
  el.feed.hidden = true;
  document.title = 'Post not found · Chorus';
  el.view.replaceChildren(h('div', { class: 'card notice' },
    h('h2', { tabindex: '-1' }, 'This post does not exist'),
    h('p', { class: 'hint' }, 'It may have been deleted, or the link is wrong. ',
      h('a', { href: '/global' }, 'See the global timeline'))));
}

async function loadMore() {
  el.more.disabled = true;
  const g = routeGen();
  const r = await api('GET', withQuery(state.view.src, { limit: PAGE, before: state.next }));
  if (g !== routeGen()) return;
  el.more.disabled = false;
  if (!ok(r)) { showMessage(errorMessage(r)); return; }
  state.next = r.data.next || null;
  addTweets(itemsOf(r), 'end');
}

/* ---------- compose ---------- */

async function postTweet() {
  if (el.post.disabled) return;
  el.post.disabled = true;
  el.composeText.readOnly = true;
  const r = await api('POST', '/api/tweet', withImages(el.compose, { text: el.composeText.value }));
  el.composeText.readOnly = false;
  if (ok(r)) {
    el.composeText.value = '';
    clearImages(el.compose);
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

export function closeEditor(li) {
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
  focusEdit(replaceTweet(asItem(findTweet(String(r.data.id)), r.data)));
}

/* ---------- share, like, delete ---------- */

// Copies the post's address; where the clipboard is refused, shows it.
async function shareTweet(li) {
  const url = new URL(tweetHref(li.dataset.id), location.origin).href;
  try {
    await navigator.clipboard.writeText(url);
    showMessage('Link copied to the clipboard.', 'info');
  } catch (e) {
    showMessage(`Link to this post: ${url}`, 'info');
  }
}

async function toggleLike(li, btn) {
  const t = findTweet(li.dataset.id);
  if (!t) return;
  btn.disabled = true;
  const r = await api(t.liked_by_me ? 'DELETE' : 'POST', `/api/tweet/${encodeURIComponent(t.id)}/like`);
  btn.disabled = false;
  if (!ok(r)) { fail(r); return; }
  if (state.gone.has(String(r.data.id))) return;
  touch(r.data.id);
  updateShown(asItem(findTweet(String(r.data.id)), r.data));
  findNode(String(r.data.id))?.querySelector('[data-action=like]')?.focus();
}

async function toggleRepost(li, btn) {
  const t = findTweet(li.dataset.id);
  if (!t) return;
  btn.disabled = true;
  const r = await api(t.reposted_by_me ? 'DELETE' : 'POST', `/api/tweet/${encodeURIComponent(t.id)}/repost`);
  btn.disabled = false;
  if (!ok(r)) { fail(r); return; }
  if (state.gone.has(String(r.data.id))) return;
  touch(r.data.id);
  updateShown(asItem(findTweet(String(r.data.id)), r.data));
  findNode(String(r.data.id))?.querySelector('[data-action=repost]')?.focus();
}

async function deleteTweet(li, btn) {
  const id = li.dataset.id;
  // eslint-disable-next-line no-alert
  if (!window.confirm('Delete this post? This cannot be undone.')) return;
  btn.disabled = true;
  const r = await api('DELETE', `/api/tweet/${encodeURIComponent(id)}`);
  btn.disabled = false;
  if (!ok(r) && r.status !== 404) { fail(r); return; }
  tweetDeleted(id);
  showMessage('Post deleted.', 'info');
  el.feedTitle.focus({ preventScroll: true });
}

/* ---------- events of the list ---------- */

function onTimelineClick(e) {
  const btn = e.target.closest('button[data-action]');
  if (!btn) return;
  const li = btn.closest('li');
  if (btn.dataset.action === 'edit') openEditor(li);
  else if (btn.dataset.action === 'cancel') closeEditor(li);
  else if (btn.dataset.action === 'like') toggleLike(li, btn);
  else if (btn.dataset.action === 'reply') toggleReply(li, btn);
  else if (btn.dataset.action === 'share') shareTweet(li);
  else if (btn.dataset.action === 'repost') toggleRepost(li, btn);
  else if (btn.dataset.action === 'quote') openQuote(findTweet(li.dataset.id), btn);
  else if (btn.dataset.action === 'history') openHistory(li.dataset.id, btn);
  else if (btn.dataset.action === 'delete') deleteTweet(li, btn);
}

function onTimelineSubmit(e) {
  e.preventDefault();
  const form = e.target;
  if (form.querySelector('button[type=submit]').disabled) return;
  if (form.classList.contains('reply-box')) postReply(form);
  else saveEdit(form);
}
