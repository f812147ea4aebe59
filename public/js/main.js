/*
 * Chorus web client: plain ES modules, no framework, no build step.
 * index.html is the static skeleton and loads this module; all behaviour
 * is wired with addEventListener (no inline script, so a strict CSP works).
 *
 * The modules, each importing only those listed before it:
 *   events.js         the WebSocket event types (mirrors the server's table)
 *   api.js            fetch wrapper: {status, data}, never throws; 401 hook;
 *                     uploads with progress
 *   state.js          the shared state, route generations, change ticks
 *   icons.js          the inline SVG icons
 *   avatar.js         avatars (a picture, or drawn) and display names
 *   media.js          a post's images in its card and in a quote
 *   dom.js            element references, h(), messages, tweet/user rendering
 *   upload.js         uploading an image: checks, progress, what refusals mean
 *   attach.js         images attached to a post being written
 *   session.js        who is logged in; the header that shows it
 *   live.js           the WebSocket: resume, subscriptions, chorus_seen
 *   timeline.js       the tweet list on screen; live changes applied to it
 *   dialogs.js        the quote and edit-history dialogs a tweet opens
 *   lightbox.js       an image shown whole, with its alt text
 *   tweet.js          reply forms: under any post, and on a post's page
 *   suggest.js        people to follow: the side box, a new account's welcome
 *   feed.js           loading the list, compose, edit/like/repost/share/delete
 *   paged.js          lists with "Load more" (people, notifications, users)
 *   auth.js, profile.js, people.js, search.js, notifications.js,
 *   tags.js           one view each (tags.js: a tag's page, the trends box)
 *   router.js         URL -> view, links without page loads, Back restoring
 *                     a list and its scroll position
 *   main.js           boot; what a user change and a live event do
 * Where a lower module has to reach a higher one it calls a hook that
 * main.js sets: onUserChange (session.js) and setLiveHooks (live.js).
 */
import { api, errorMessage, ok, onUnauthorized } from './api.js';
import { initAttachments, onAltInput } from './attach.js';
import { initAuth } from './auth.js';
import { bindElements, el, hideMessage, showMessage, updateCounter } from './dom.js';
import { EVENT } from './events.js';
import { closeEditor, initFeed, loadNewest } from './feed.js';
import { drawIcons } from './icons.js';
import { openLightbox } from './lightbox.js';
import { initLive, isLive, sessionEnded, setLiveHooks, startLive, stopLive } from './live.js';
import { loadUnread, onNotification } from './notifications.js';
import {
  changePassword, endOtherSessions, loadFollowing, onFollowEvent, saveProfile, toggleFollow,
} from './profile.js';
import { initRouter, navigate, renderRoute } from './router.js';
import { searchUrl } from './search.js';
import { onUserChange, renderSession } from './session.js';
import { state } from './state.js';
import { loadTrends, renderTrends } from './tags.js';
import {
  applyLikeEvent, applyRepostEvent, applyTweetEvent, refreshTimes, tweetDeleted,
} from './timeline.js';
import { followSuggested, loadWho, onSuggestionFollowed } from './suggest.js';
import { onReplyClick } from './tweet.js';

const POLL_MS = 60000; // fallback poll of the list, only while not live

// What each event of the live stream does to the page.
function onLiveEvent(type, data) {
  switch (type) {
    case EVENT.TWEET_CREATED:
    case EVENT.TWEET_UPDATED:
      if (data.tweet && data.tweet.id) applyTweetEvent(data.tweet, Number(data.version) || 0, type);
      break;
    case EVENT.TWEET_DELETED:
      if (data.id) tweetDeleted(data.id);
      break;
    case EVENT.FOLLOW:
      onFollowEvent(data);
      break;
    case EVENT.NOTIFICATION:
      if (data.notification) onNotification(data.notification);
      break;
    case EVENT.LIKE: // I liked or unliked a post, maybe in another tab
      if (data.tweet) applyLikeEvent(String(data.tweet), data.liked === true);
      break;
    case EVENT.REPOST:
      if (data.tweet && data.tweet.id) applyRepostEvent(data.tweet, data.reposted === true);
      break;
    case EVENT.TRENDS:
      renderTrends(data.items);
      break;
    default: // EVENT.ERROR (a message of ours the server refused): nothing to show
  }
}

// Logged in as someone else, or out: the live connection follows the
// user, and the view is drawn again for them.
function onUser(user, was) {
  if (!user) stopLive();
  else if (user.username !== was) { stopLive(); startLive(); loadUnread(); loadFollowing(); }
  if (!user || user.username !== was) { renderRoute(); loadWho(); }
}

// Forms drawn by the views in #view.
function onViewSubmit(e) {
  e.preventDefault();
  const form = e.target;
  if (form.classList.contains('search')) {
    const url = searchUrl(form);
    if (url) navigate(url);
  } else if (form.classList.contains('profile-form')) {
    saveProfile(form);
  } else if (form.classList.contains('password-form')) {
    changePassword(form);
  }
}

// Buttons anywhere: following a suggested person (side box, welcome),
// an image (a post's, a quote's, a profile's) opening the lightbox.
function onDocumentClick(e) {
  const btn = e.target.closest('button[data-action=follow-user], button[data-action=view-image]');
  if (btn && btn.dataset.action === 'follow-user') followSuggested(btn);
  else if (btn) openLightbox(btn);
}

function onViewClick(e) {
  const btn = e.target.closest('button[data-action]');
  if (btn && btn.dataset.action === 'follow') toggleFollow(btn);
  else if (btn && btn.dataset.action === 'end-sessions') endOtherSessions(btn);
}

// Ctrl/Cmd+Enter submits a compose/reply/edit form; Escape cancels an
// edit or closes a reply form of a list.
function onKey(e) {
  const form = e.target.closest('form');
  if (!form || e.target.tagName !== 'TEXTAREA') return;
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  else if (e.key === 'Escape' && form.classList.contains('editor')) closeEditor(form.closest('li'));
  else if (e.key === 'Escape' && form.classList.contains('reply-box') && !form.dataset.page) {
    form.querySelector('[data-action=close-reply]')?.click();
  }
}

async function init() {
  bindElements();
  drawIcons();
  onUserChange(onUser);
  onUnauthorized(sessionEnded); // any 401: the session ended, wherever
  onSuggestionFollowed(() => {
    if (state.view && state.view.name === 'home') loadNewest('reload');
    loadWho();
  });
  setLiveHooks({ event: onLiveEvent, resync: () => { loadNewest('reload'); loadTrends(); } });
  initAuth();
  el.msgClose.addEventListener('click', hideMessage);
  initFeed();
  initAttachments();
  initLive();
  document.addEventListener('input', (e) => {
    onAltInput(e);
    const form = e.target.form;
    if (form && form.querySelector('.count')) updateCounter(form);
  });
  document.addEventListener('keydown', onKey);
  // A new attempt (or the browser refusing one) replaces an old message.
  document.addEventListener('submit', hideMessage, true);
  document.addEventListener('invalid', hideMessage, true);
  document.addEventListener('click', onDocumentClick);
  el.view.addEventListener('submit', onViewSubmit);
  el.view.addEventListener('click', onViewClick);
  el.timeline.addEventListener('click', onReplyClick);
  el.sideSearch.addEventListener('submit', (e) => {
    e.preventDefault();
    const url = searchUrl(el.sideSearch);
    if (url) { el.sideQ.value = ''; navigate(url); }
  });
  initRouter();
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !isLive()) loadNewest('poll');
  });

  updateCounter(el.compose);
  const me = await api('GET', '/api/me');
  if (me.status === 0) showMessage(errorMessage(me));
  state.me = ok(me) ? me.data : null;
  renderSession();
  if (state.me) { startLive(); loadUnread(); loadFollowing(); }
  loadWho();
  await renderRoute();
  setInterval(() => {
    if (document.hidden) return;
    if (isLive()) refreshTimes();
    else loadNewest('poll');
  }, POLL_MS);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
