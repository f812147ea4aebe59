/*
 * A user's profile page (/u/<name>): the card with the header image and
 * avatar (pictures.js), counts, Follow / Unfollow, and on one's own the
 * profile form (name, bio, pictures), the password form and "Log out
 * other sessions" (docs/API.md, Accounts). Also the set of
 * people I follow (state.following), which the home feed uses to tell
 * followed authors' tweets from replies to watched tweets, kept up to
 * date by follow events.
 */
import { api, errorMessage, itemsOf, ok, withQuery } from './api.js';
import { displayName } from './avatar.js';
import { el, h, showMessage, setBusy, userHref } from './dom.js';
import { pictureChanges, pictureFields, profileAvatar, profileBanner } from './pictures.js';
import { fail, renderSession } from './session.js';
import { routeGen, state } from './state.js';
import { updateAuthor } from './timeline.js';

export async function loadProfile(v, g) {
  el.view.append(h('div', { class: 'card' }, h('p', { class: 'hint' }, 'Loading profile…')));
  const r = await api('GET', `/api/users/${encodeURIComponent(v.user)}`);
  if (g !== routeGen()) return;
  if (!ok(r)) {
    const missing = r.status === 404;
    el.view.replaceChildren(h('div', { class: 'card notice' },
      h('h2', { tabindex: '-1' }, missing ? 'No such user' : 'Could not load this profile'),
      h('p', { class: 'hint' }, missing ? `Nobody here is called @${v.user}.` : errorMessage(r))));
    el.feed.hidden = missing;
    document.title = missing ? 'No such user · Chorus' : 'Chorus';
    return;
  }
  renderProfile(r.data);
}

function renderProfile(p) {
  const v = state.view;
  v.profile = p;
  document.title = `${displayName(p) ? `${displayName(p)} (@${p.username})` : `@${p.username}`} · Chorus`;
  const self = state.me && state.me.username.toLowerCase() === p.username.toLowerCase();
  const n = (x) => Number(x) || 0;
  const name = displayName(p);
  const card = h('div', { class: 'card profile' },
    profileBanner(p),
    h('div', { class: 'profile-head' }, profileAvatar(p),
      h('div', { class: 'profile-names' },
        h('h2', { tabindex: '-1', dir: 'auto' }, name || `@${p.username}`),
        name ? h('p', { class: 'handle' }, `@${p.username}`) : null)),
    p.bio ? h('p', { class: 'bio', dir: 'auto' }, p.bio) : null,
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
    self ? profileForm(p) : null,
    self ? accountForm() : null);
  el.view.replaceChildren(card);
}

// Password and sessions: a password change ends every other session of
// the account (this one stays), as "Log out other sessions" does.
function accountForm() {
  const field = (id, label, complete) => [h('label', { for: id }, label),
    h('input', { id, type: 'password', required: '', minlength: '8', maxlength: '128', autocomplete: complete })];
  return h('details', { class: 'edit-profile account' },
    h('summary', null, 'Password and sessions'),
    h('form', { class: 'password-form' },
      ...field('pw-current', 'Current password', 'current-password'),
      ...field('pw-new', 'New password', 'new-password'),
      h('p', { class: 'hint' }, 'At least 8 characters. Your other sessions are logged out.'),
      h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'btn' }, 'Change password'))),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'btn ghost', 'data-action': 'end-sessions' }, 'Log out other sessions')));
}

export async function changePassword(form) {
  if (!form.reportValidity()) return;
  setBusy(form, true);
  const r = await api('PUT', '/api/me/password', {
    current_password: form.querySelector('#pw-current').value,
    new_password: form.querySelector('#pw-new').value });
  setBusy(form, false);
  if (!ok(r)) { fail(r); return; }
  form.reset();
  showMessage('Password changed. Your other sessions are logged out.', 'info');
}

export async function endOtherSessions(btn) {
  btn.disabled = true;
  const r = await api('DELETE', '/api/me/sessions');
  btn.disabled = false;
  if (!ok(r)) { fail(r); return; }
  showMessage('Your other sessions are logged out.', 'info');
}

function profileForm(p) {
  const name = h('input', { id: 'pf-name', type: 'text', required: '', maxlength: '200', dir: 'auto' });
  name.value = p.display_name || '';
  const bio = h('textarea', { id: 'pf-bio', rows: '2', maxlength: '640', dir: 'auto' });
  bio.value = p.bio || '';
  const form = h('form', { class: 'profile-form' });
  form.append(
    h('label', { for: 'pf-name' }, 'Display name'), name,
    h('label', { for: 'pf-bio' }, 'Bio'), bio,
    h('p', { class: 'hint' }, 'Up to 160 characters'),
    pictureFields(p, form),
    h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'btn' }, 'Save profile')));
  return h('details', { class: 'edit-profile' }, h('summary', null, 'Edit profile'), form);
}

export async function saveProfile(form) {
  const display = form.querySelector('#pf-name').value;
  if (!display.trim()) { showMessage('The display name cannot be blank.'); return; }
  setBusy(form, true);
  const r = await api('PATCH', '/api/me', { display_name: display, bio: form.querySelector('#pf-bio').value,
    ...pictureChanges(form) });
  setBusy(form, false);
  if (!ok(r)) { fail(r); return; }
  const { display_name: dn, bio: b, avatar, header } = r.data;
  state.me = { ...state.me, display_name: dn, bio: b, avatar, header };
  renderSession();
  updateAuthor(r.data);
  if (state.view.name !== 'profile') return;
  renderProfile(r.data);
  showMessage('Profile saved.', 'info');
  el.view.querySelector('h2')?.focus();
}

export async function toggleFollow(btn) {
  const v = state.view;
  const p = v.profile;
  if (!p) return;
  btn.disabled = true;
  const g = routeGen();
  const r = await api(p.followed_by_me ? 'DELETE' : 'POST', `/api/users/${encodeURIComponent(p.username)}/follow`);
  if (g !== routeGen()) return;
  btn.disabled = false;
  if (!ok(r)) { fail(r); return; }
  renderProfile(r.data);
  el.view.querySelector('[data-action=follow]')?.focus();
}

// Who I follow, to tell followed authors' tweets from replies to watched tweets.
export async function loadFollowing() {
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

// A follow event (data {follower, followee, following}): my following set,
// and the counts of a profile on screen.
export function onFollowEvent(d) {
  if (!state.me) return;
  const me = state.me.username.toLowerCase();
  if (String(d.follower || '').toLowerCase() === me && state.following) {
    const who = String(d.followee || '').toLowerCase();
    if (d.following) state.following.add(who); else state.following.delete(who);
  }
  const v = state.view;
  if (v && v.name === 'profile' && v.profile) {
    const name = v.profile.username.toLowerCase();
    if (name === String(d.followee || '').toLowerCase() || name === String(d.follower || '').toLowerCase()) {
      const g = routeGen();
      api('GET', `/api/users/${encodeURIComponent(v.profile.username)}`).then((r) => {
        if (ok(r) && g === routeGen() && !el.view.querySelector('.edit-profile[open]') &&
            !el.view.contains(document.activeElement)) renderProfile(r.data);
      });
    }
  }
}
