/*
 * The search page (/search?q=...): the form and the people found; the
 * posts found are the timeline (feed.js loads them).
 */
import { withQuery } from './api.js';
import { el, h, renderUser } from './dom.js';
import { pagedList } from './paged.js';

export async function renderSearch(v, g) {
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

// The URL the search form asks for (null while it is blank).
export function searchUrl(form) {
  const q = form.querySelector('input').value.trim();
  return q ? `/search?q=${encodeURIComponent(q)}` : null;
}
