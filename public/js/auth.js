/*
 * Logging in, creating an account and logging out (the #auth form and the
 * session bar's button).
 */
import { api, errorMessage, ok } from './api.js';
import { el, setBusy, showMessage } from './dom.js';
import { startLive, stopLive } from './live.js';
import { setUser } from './session.js';

export function initAuth() {
  el.auth.addEventListener('submit', (e) => { e.preventDefault(); authenticate('login'); });
  el.register.addEventListener('click', () => authenticate('register'));
  el.logout.addEventListener('click', logout);
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
  // A new account's home is a welcome to read; one who logs in writes.
  if (kind === 'register') el.main.focus({ preventScroll: true });
  else el.composeText.focus();
}

async function logout() {
  el.logout.disabled = true;
  stopLive(); // the server closes it as the session ends: not news here
  const r = await api('DELETE', '/api/login');
  el.logout.disabled = false;
  if (!ok(r) && r.status !== 401) { startLive(); showMessage(errorMessage(r)); return; }
  setUser(null);
  showMessage('Logged out.', 'info');
  el.authUser.focus();
}
