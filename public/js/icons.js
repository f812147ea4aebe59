/*
 * Icons: small inline SVGs drawn with the DOM (no markup strings, no
 * requests), 24 x 24, stroked in currentColor so they follow the text's
 * colour in light and dark. Every icon is decorative (aria-hidden): the
 * control it sits in has its own accessible name.
 */

const SVG = 'http://www.w3.org/2000/svg';

// name -> the d attribute of its paths.
const PATHS = {
  home: ['M3.5 10.5 12 3.5l8.5 7V20a1 1 0 0 1-1 1H15v-6H9v6H4.5a1 1 0 0 1-1-1z'],
  globe: ['M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z', 'M3.6 9h16.8M3.6 15h16.8',
    'M12 3c2.4 2.5 3.6 5.5 3.6 9s-1.2 6.5-3.6 9c-2.4-2.5-3.6-5.5-3.6-9S9.6 5.5 12 3z'],
  search: ['M10.5 3.5a7 7 0 1 0 0 14 7 7 0 0 0 0-14z', 'm20.5 20.5-5-5'],
  bell: ['M6 16.5V11a6 6 0 0 1 12 0v5.5l1.5 1.5h-15z', 'M10 20.5a2.2 2.2 0 0 0 4 0'],
  user: ['M12 12a4.2 4.2 0 1 0 0-8.4 4.2 4.2 0 0 0 0 8.4z', 'M4 21a8 8 0 0 1 16 0'],
  logout: ['M14 4h4.5a1.5 1.5 0 0 1 1.5 1.5v13a1.5 1.5 0 0 1-1.5 1.5H14', 'M10 8l-4 4 4 4', 'M6 12h10'],
  refresh: ['M20 11a8 8 0 0 0-14.3-4.9L4 8', 'M4 4v4h4', 'M4 13a8 8 0 0 0 14.3 4.9L20 16', 'M20 20v-4h-4'],
  reply: ['M4.5 5.5h15a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H10l-4.5 3.5v-3.5h-1a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1z'],
  repost: ['M4 11V8.5A2.5 2.5 0 0 1 6.5 6H19', 'm16 3 3 3-3 3', 'M20 13v2.5a2.5 2.5 0 0 1-2.5 2.5H5', 'm8 21-3-3 3-3'],
  heart: ['M12 20s-7.5-4.6-7.5-10.2A4.3 4.3 0 0 1 12 7.2a4.3 4.3 0 0 1 7.5 2.6C19.5 15.4 12 20 12 20z'],
  quote: ['M5 17.5c2.5-1 3.5-3 3.5-5.5H5V6.5h5.5V12c0 3.6-1.8 6-5.5 7z',
    'M13.5 17.5c2.5-1 3.5-3 3.5-5.5h-3.5V6.5H19V12c0 3.6-1.8 6-5.5 7z'],
  link: ['M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1.2 1.2',
    'M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1.2-1.2'],
  edit: ['M4 20h4L19.5 8.5a2.1 2.1 0 0 0-3-3L5 17z', 'm14.5 7.5 3 3'],
  trash: ['M4 7h16', 'M9.5 7V4.5h5V7', 'M6.5 7l1 13h9l1-13', 'M10 11v5M14 11v5'],
  image: ['M5 4.5h14A1.5 1.5 0 0 1 20.5 6v12a1.5 1.5 0 0 1-1.5 1.5H5A1.5 1.5 0 0 1 3.5 18V6A1.5 1.5 0 0 1 5 4.5z',
    'M9 11a1.8 1.8 0 1 0 0-3.6A1.8 1.8 0 0 0 9 11z', 'm3.5 17 5-5 4 4 2.5-2.5 5.5 5.5'],
  close: ['M6 6l12 12M18 6 6 18'],
  prev: ['m15 5-7 7 7 7'],
  next: ['m9 5 7 7-7 7'],
  logo: ['M5 8.5A3.5 3.5 0 0 1 8.5 5h9A3.5 3.5 0 0 1 21 8.5v6a3.5 3.5 0 0 1-3.5 3.5H12l-4.5 3.5V18A3.5 3.5 0 0 1 5 14.5z',
    'M10 9.5v3.5M13 8.5v5.5M16 9.5v3.5'],
};

// An <svg> of the icon name (class "icon", aria-hidden).
export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', `icon icon-${name}`);
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of PATHS[name] || []) {
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

// Puts its icon first in every element of root with data-icon, and the
// logo in .logo.
export function drawIcons(root = document) {
  for (const n of root.querySelectorAll('[data-icon]')) {
    if (!n.querySelector(':scope > svg.icon')) n.prepend(icon(n.dataset.icon));
  }
  for (const n of root.querySelectorAll('.logo')) {
    if (!n.firstChild) n.append(icon('logo'));
  }
}
