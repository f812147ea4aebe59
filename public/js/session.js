/*
 * Who is logged in, and the header that shows it: the session bar, the
 * nav links only a user has, the unread-notifications badge.
 * setUser() is the one way the user changes; what follows from a change
 * (the live connection, the current view drawn again) is the listener's
 * that main.js sets with onUserChange().
 */
import { errorMessage } from './api.js';
import { avatar, displayName } from './avatar.js';
import { el, showMessage, userHref } from './dom.js';
import { composes, state } from './state.js';

let userChanged = () => {};

// fn(user, previousUsername) runs after every setUser().
export function onUserChange(fn) { userChanged = fn; }

export function setUser(user) {
  const was = state.me && state.me.username;
  state.me = user;
  if (!user || user.username !== was) state.unread = 0;
  renderSession();
  userChanged(user, was);
}

// Handle a failed request from a logged-in action (a 401 has logged the
// page out already: api.js's hook, main.js).
export function fail(r) {
  if (r.status === 401) return;
  showMessage(errorMessage(r));
}

export function renderSession() {
  const inside = Boolean(state.me);
  el.session.hidden = !inside;
  el.auth.hidden = inside;
  el.compose.hidden = !inside || (Boolean(state.view) && !composes(state.view));
  el.meName.textContent = inside ? `@${state.me.username}` : '';
  el.meName.title = inside ? displayName(state.me) || '' : '';
  el.meAvatar.replaceChildren(...(inside ? [avatar(state.me, 's')] : []));
  el.composeAvatar.replaceChildren(...(inside ? [avatar(state.me, 'm')] : []));
  el.navNotifications.hidden = !inside;
  el.navProfile.hidden = !inside;
  if (inside) el.navProfile.setAttribute('href', userHref(state.me.username));
  renderBadge();
}

export function renderBadge() {
  const n = state.me ? state.unread : 0;
  el.badge.hidden = n <= 0;
  el.badge.textContent = n > 99 ? '99+' : String(n);
  // The accessible name starts with the visible text (WCAG 2.5.3).
  el.navNotifications.setAttribute('aria-label', n > 0 ? `Notifications ${el.badge.textContent} unread` : 'Notifications');
}
