// Chorus browser end-to-end test: the single-page app in public/, driven by
// headless Chromium through playwright-core, with two users on two servers
// (and others through the API), on a populated instance (seed.mjs).
// axe-core checks the main views and the dialogs for WCAG 2.1 A/AA
// violations, in light and dark. Besides what people do (post, reply,
// like, repost, quote, edit, delete, follow, search, notifications, tag
// pages, images: attached, shown in cards, in the lightbox, as avatars and
// headers), it checks what the page is made of: the desktop and phone
// layouts, compact cards, the first view's transferred bytes and caching,
// titles, the favicon, right-to-left text, reduced motion, live updates
// of every list, and the session ending anywhere.
//
//   CHORUS_TEST_URL_A=... CHORUS_TEST_URL_B=... node tests/e2e/spa.test.mjs
//
// Normally run by ctest (test e2e.spa, label e2e) from scripts/test.sh.
// Environment: CHORUS_TEST_URL_A, CHORUS_TEST_URL_B (required),
//   CHORUS_CHROMIUM (default /usr/bin/chromium).
// Writes screenshots of the seeded instance (desktop 1280 and 1920, phone
// 390 x 844, light and dark, images and the lightbox) to
// var/e2e-screenshots/*.png, or to
// CHORUS_E2E_SHOTS_DIR (docs/screenshots to refresh the README's pictures).
// Last line: "e2e: N passed, M failed"; exit status 1 on any failure.
import { chromium } from 'playwright-core';
import { avatarImage, headerImage, jupiter, lagoon, png } from './images.mjs';
import { PASSWORD as SEED_PASSWORD, seed } from './seed.mjs';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = resolve(ROOT, process.env.CHORUS_E2E_SHOTS_DIR || join('var', 'e2e-screenshots'));
const URL_A = (process.env.CHORUS_TEST_URL_A || '').replace(/\/$/, '');
const URL_B = (process.env.CHORUS_TEST_URL_B || '').replace(/\/$/, '');
const CHROMIUM = process.env.CHORUS_CHROMIUM || '/usr/bin/chromium';
const WAIT = 10_000; // every explicit wait
// Waits for images to load: a server reads an image from the database the
// first time it is asked for (about a second each on FerretDB, one after
// another), and a page asks for many at once.
const IMAGE_WAIT = 3 * WAIT;
const AXE_SRC = readFileSync(join(ROOT, 'tests', 'e2e', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

let passed = 0;
let failed = 0;
const finish = (code) => {
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(code);
};
if (!URL_A || !URL_B) {
  console.error('e2e: CHORUS_TEST_URL_A and CHORUS_TEST_URL_B must be set (run scripts/test.sh)');
  failed++;
  finish(1);
}

const sfx = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`.slice(-8);
const USER_A = `ea_${sfx}`;
const USER_B = `eb_${sfx}`;
const WORD = `zebra${sfx}`; // unique search word
const XSS = '<img src=x onerror="window.__xss=1">';

// Console errors that are expected: /api/me answers 401 when logged out,
// a page whose session ended gets 401s (it logs out), a missing post or
// user is a 404 the page says, and a refused registration a 409.
const errors = [];
function watch(page, tag) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url || '';
    const path = url ? new URL(url).pathname : '';
    const text = m.text();
    if (/^\/api\//.test(path) && /\b401\b/.test(text)) return;
    if (/^\/api\/(tweet\/[0-9a-f]{24}(\/replies)?|users\/\w+(\/tweets)?)$/.test(path) && /\b404\b/.test(text)) return;
    if (path === '/api/register' && /\b409\b/.test(text)) return;
    if (path === '/api/media' && /\b41[35]\b/.test(text)) return; // a file that is no image, an account out of room
    errors.push(`${tag} console error: ${text} @ ${url}`);
  });
  page.on('pageerror', (e) => errors.push(`${tag} page error: ${e.message}`));
  page.on('dialog', (d) => d.accept()); // delete confirmation
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    throw e;
  }
}
const assert = (cond, msg) => { if (!cond) throw new Error(`assertion failed: ${msg}`); };

const waitLive = (page) => page.waitForFunction(
  () => document.querySelector('#live-status')?.textContent === 'Live', null, { timeout: WAIT });
// A post on the list by its own text (not the text of a post it quotes).
const tweetLi = (page, text) => page.locator('#timeline li.tweet', { has: page.locator('.tw-main > .text', { hasText: text }) });
async function shot(page, name, fullPage = false) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  console.log(`screenshot: ${path}`);
}

// axe-core on the page as it is now: no WCAG 2.1 A/AA violation. The
// script is evaluated through the DevTools protocol (the page's CSP allows
// no injected <script>).
async function axeClean(page, what) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE_SRC);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}: ${
      v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert(found.length === 0, `${what}: axe found\n  ${found.join('\n  ')}`);
}

// axeClean in light, then in dark (prefers-color-scheme), then light again.
// The scheme changes with reduced motion on: colours change at once, not
// through a transition that axe would catch halfway.
async function axeBoth(page, what) {
  await axeClean(page, `${what} (light)`);
  await page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
  try {
    await axeClean(page, `${what} (dark)`);
  } finally {
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'reduce' });
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'no-preference' });
  }
}

// Logs page in at base as username.
async function login(page, base, username, password) {
  await page.goto(`${base}/`);
  await page.waitForSelector('#auth:not([hidden])');
  await page.fill('#auth-user', username);
  await page.fill('#auth-pass', password);
  await page.click('#login');
  await page.waitForSelector('#compose:not([hidden])');
  await waitLive(page);
}

// Follows a link of the page (a client-side navigation) to path.
async function go(page, base, path) {
  await page.evaluate((p) => {
    const a = document.createElement('a');
    a.href = p;
    document.body.append(a);
    a.click();
    a.remove();
  }, path);
  await page.waitForURL(`${base}${path}`);
}

// The API as someone outside the browser: register, then write.
async function apiUser(base, name) {
  const ctx = await browser.newContext();
  const r = await ctx.request.post(`${base}/api/register`,
    { data: { username: name, password: 'tinfoil kazoo 42' }, headers: { Origin: base } });
  assert(r.status() === 201, `${name} could not register: ${r.status()}`);
  const send = async (method, path, data) => {
    const res = await ctx.request.fetch(`${base}${path}`, { method, data, headers: { Origin: base } });
    return { status: res.status(), data: await res.json().catch(() => null) };
  };
  return { ctx, name, send, post: async (text, extra = {}) => {
    const res = await send('POST', '/api/tweet', { text, ...extra });
    assert(res.status === 201, `${name} could not post: ${res.status}`);
    return res.data.id;
  } };
}

// The mean height of the list's first 10 posts without images (those
// with images are as tall as their images make them).
const textPostHeight = (page) => page.evaluate(() => {
  const hs = [...document.querySelectorAll('#timeline li.tweet')].filter((li) => !li.querySelector('.media, .quote-media'))
    .slice(0, 10).map((li) => li.getBoundingClientRect().height);
  return hs.length ? hs.reduce((a, b) => a + b, 0) / hs.length : Infinity;
});

// Until every image in view on page has its pixels.
const imagesInView = (page) => page.waitForFunction(() => [...document.images].filter((i) => {
  const r = i.getBoundingClientRect();
  return i.checkVisibility() && r.bottom > 0 && r.top < innerHeight; // (not in a closed <details>)
}).every((i) => i.complete && i.naturalWidth > 0), null, { timeout: IMAGE_WAIT });

// Until the page's animations (a dialog's fade) have ended. One that is
// cancelled meanwhile (a hover transition when a dialog covers the
// pointer's target) rejects its finished promise: it has ended too.
const settled = (page) => page.evaluate(() => Promise.allSettled(document.getAnimations().map((a) => a.finished)));

// A colour #rrggbb as computed styles write it.
// A dialog of page: the app appends it when it opens and removes it in
// its close handler, the task that puts the focus back, so "detached"
// means closed and focus returned ([open] goes off a task earlier).
const dialogIn = (page, cls = '') => page.locator(`dialog${cls}`);
const rgb = (hex) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;

async function register(page, base, name) {
  await page.goto(`${base}/`);
  await page.waitForSelector('#auth:not([hidden])');
  await page.fill('#auth-user', name);
  await page.fill('#auth-pass', 'tinfoil kazoo 42');
  await page.click('#register');
  await page.waitForSelector('#compose:not([hidden])');
  await page.waitForFunction((n) => document.querySelector('#me-name')?.textContent.includes(n), name);
  await waitLive(page);
}

// Posts text from the compose form; shown: what the list shows of it
// (the text, unless it has a URL the page shortens).
async function post(page, text, shown = text) {
  await page.fill('#compose-text', text);
  await page.click('#post');
  await tweetLi(page, shown).first().waitFor();
}

// The client's ES modules (public/js), read from the files: all of them,
// those reachable from main.js through static imports, and an import
// cycle if there is one (the modules are layered: none imports back).
const JS_DIR = join(ROOT, 'public', 'js');
function moduleGraph() {
  const files = readdirSync(JS_DIR).filter((f) => f.endsWith('.js')).sort();
  const done = new Set();
  const open = [];
  let cycle = null;
  const visit = (f) => {
    if (open.includes(f)) { cycle ??= open.slice(open.indexOf(f)).concat(f).join(' -> '); return; }
    if (done.has(f)) return;
    open.push(f);
    const src = readFileSync(join(JS_DIR, f), 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+'\.\/([\w-]+\.js)'/gm)) visit(m[1]);
    open.pop();
    done.add(f);
  };
  visit('main.js');
  return { files, reached: [...done].sort(), cycle };
}

let browser;
try {
  mkdirSync(SHOTS, { recursive: true });
  // launch() gives Chromium a fresh temporary --user-data-dir (removed on close).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-dev-shm-usage'],
  });
  const DESKTOP = { width: 1280, height: 800 };
  const newContext = async (opts = {}) => {
    const c = await browser.newContext({ viewport: DESKTOP, ...opts });
    c.setDefaultTimeout(WAIT);
    c.setDefaultNavigationTimeout(WAIT * 2);
    return c;
  };
  const ctxA = await newContext();
  const ctxB = await newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
  const pa = await ctxA.newPage(); watch(pa, 'A');
  const pb = await ctxB.newPage(); watch(pb, 'B');

  await step('the page loads its ES modules under one version: JavaScript Content-Type, no errors', async () => {
    const { files, reached, cycle } = moduleGraph();
    assert(JSON.stringify(files) === JSON.stringify(reached),
      `public/js has modules main.js does not import (${files.filter((f) => !reached.includes(f))})`);
    assert(!cycle, `import cycle: ${cycle}`);
    const got = new Map(); // file -> "status content-type"
    const onResponse = (res) => {
      const m = /^\/v\/[0-9a-f]{16}\/js\/([\w-]+\.js)$/.exec(new URL(res.url()).pathname);
      if (m) got.set(m[1], `${res.status()} ${res.headers()['content-type'] || ''}`);
    };
    pa.on('response', onResponse);
    await pa.goto(`${URL_A}/`);
    await pa.waitForSelector('#auth:not([hidden])');
    pa.off('response', onResponse);
    for (const f of files) {
      const r = got.get(f);
      assert(r, `/v/<version>/js/${f} was not fetched`);
      assert(/^200 (text|application)\/javascript\b/.test(r), `/js/${f}: ${r}`);
    }
    const preloads = await pa.$$eval('link[rel=modulepreload]', (ls) => ls.map((l) => l.getAttribute('href')));
    const versions = new Set(preloads.map((h) => /^\/v\/([0-9a-f]{16})\//.exec(h)?.[1]));
    assert(versions.size === 1 && !versions.has(undefined), `modulepreload links of several versions: ${preloads}`);
    const want = files.filter((f) => f !== 'main.js').map((f) => `/js/${f}`);
    const named = preloads.map((h) => h.replace(/^\/v\/[0-9a-f]{16}/, '')).sort();
    assert(JSON.stringify(named) === JSON.stringify(want),
      `index.html's modulepreload links ${named} are not the modules ${want}`);
    assert(errors.length === 0, `\n  ${errors.join('\n  ')}`);
  });

  // ---- a populated instance, and its pictures ----
  let S; // what seed() made
  const shotAs = async (who, path, name, { viewport = DESKTOP, scheme = 'light', ready, full = false } = {}) => {
    const ctx = await newContext({ viewport, colorScheme: scheme });
    const p = await ctx.newPage(); watch(p, `shot ${name}`);
    await login(p, URL_A, S.people[who].username, SEED_PASSWORD);
    if (path !== '/') await go(p, URL_A, path);
    await p.locator('#timeline li.tweet, #notes li.note').first().waitFor();
    if (ready) await ready(p);
    await imagesInView(p);
    await p.evaluate(() => document.getElementById('msg-close')?.click());
    await p.evaluate(() => document.activeElement?.blur());
    await shot(p, name, full);
    return { ctx, p };
  };
  await step('a populated instance: people with names, a conversation; its screenshots', async () => {
    S = await seed(URL_A, sfx.slice(-4));
    const conv = `/t/${S.conversation}`;
    const whoReady = (p) => p.locator('#who:not([hidden]) li.user').first().waitFor();
    let r = await shotAs('maya', '/', 'home', { ready: whoReady });
    // Density: a desktop screen holds 5 or more posts of text, as
    // Mastodon and Bluesky do.
    const h = await textPostHeight(r.p);
    assert(h * 5 <= 800, `posts of text are ${h} px tall: fewer than 5 fit on a 1280 x 800 screen`);
    await r.ctx.close();
    r = await shotAs('maya', '/', 'home-1920-dark', { viewport: { width: 1920, height: 1080 }, scheme: 'dark', ready: whoReady });
    await r.ctx.close();
    r = await shotAs('tomas', conv, 'tweet', { ready: (p) => tweetLi(p, 'old jetty').waitFor() });
    await r.ctx.close();
    r = await shotAs('maya', `/u/${S.people.lena.username}`, 'profile-dark', { scheme: 'dark' });
    await r.ctx.close();
    r = await shotAs('maya', '/notifications', 'notifications');
    await r.ctx.close();
    r = await shotAs('arjun', '/tags/birding', 'tag');
    await r.ctx.close();
    r = await shotAs('maya', `/u/${S.people.kenji.username}`, 'images', {
      ready: (p) => tweetLi(p, 'rain series').locator('.media.n4 img').nth(3).waitFor() });
    await r.ctx.close();
    r = await shotAs('tomas', conv, 'lightbox-dark', { scheme: 'dark', ready: async (p) => {
      await p.locator('#timeline li.focus .media-item').first().click();
      await p.locator('dialog.lightbox[open] .lb-alt', { hasText: 'old jetty' }).waitFor();
      await settled(p);
    } });
    await r.ctx.close();
    const PHONE = { width: 390, height: 844 };
    r = await shotAs('maya', '/', 'phone-home', { viewport: PHONE });
    await r.ctx.close();
    r = await shotAs('kenji', conv, 'phone-tweet-dark', { viewport: PHONE, scheme: 'dark',
      ready: (p) => tweetLi(p, 'old jetty').waitFor() });
    await r.ctx.close();
  });

  await step('the first view transfers under 100 KB, gzipped, besides the thumbnails in sight (lazy); versioned files are cached for good', async () => {
    const ctx = await newContext();
    const p = await ctx.newPage(); watch(p, 'first view');
    const seen = [];
    p.on('response', (res) => seen.push(res));
    await p.goto(`${URL_A}/`);
    await p.locator('#timeline li.tweet').first().waitFor();
    await p.waitForLoadState('networkidle');
    const sizes = await p.evaluate(() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
      .map((e) => ({ name: e.name, transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize })));
    const isImage = (e) => new URL(e.name).pathname.startsWith('/media/');
    const total = sizes.filter((e) => !isImage(e)).reduce((a, e) => a + e.transfer, 0);
    const images = sizes.filter(isImage);
    const imageBytes = images.reduce((a, e) => a + e.transfer, 0);
    console.log(`     first view: ${sizes.length} responses, ${total} bytes transferred, and ${images.length} images of ${imageBytes} bytes`);
    assert(total > 0 && total < 100 * 1024, `the first view transferred ${total} bytes`);
    // The images: thumbnails only, and those far below the fold wait
    // (loading="lazy"; Chromium looks at most 2,500 px ahead).
    const bad = images.filter((e) => !/^\/media\/[0-9a-f]{24}\/thumb$/.test(new URL(e.name).pathname) || e.transfer > 40 * 1024);
    assert(images.length > 0 && bad.length === 0, `first view images: ${JSON.stringify(bad)}`);
    const far = await p.evaluate(() => {
      const imgs = [...document.images];
      const below = (i) => i.getBoundingClientRect().top > innerHeight + 2500;
      const near = new Set(imgs.filter((i) => !below(i)).map((i) => i.src)); // an avatar seen higher up too
      return imgs.filter((i) => below(i) && !near.has(i.src)).map((i) => i.src);
    });
    const fetched = new Set(images.map((e) => e.name));
    assert(far.length > 0, 'no image far enough below the fold to check that images are lazy');
    assert(far.every((src) => !fetched.has(src)), `images far below the fold were fetched: ${far.filter((src) => fetched.has(src))}`);
    let statics = 0;
    for (const res of seen) {
      const path = new URL(res.url()).pathname;
      const hdr = res.headers();
      if (path.startsWith('/v/')) {
        statics++;
        assert(/immutable/.test(hdr['cache-control'] || '') && /max-age=31536000/.test(hdr['cache-control']),
          `${path}: Cache-Control ${hdr['cache-control']}`);
        if (/\.(js|css|svg)$/.test(path)) assert(hdr['content-encoding'] === 'gzip', `${path}: not gzipped`);
      } else if (path === '/') {
        assert(hdr['cache-control'] === 'no-cache', `index.html: Cache-Control ${hdr['cache-control']}`);
        assert(hdr['content-encoding'] === 'gzip', 'index.html: not gzipped');
      }
    }
    assert(statics >= 20, `only ${statics} versioned files fetched`);
    // Again: the versioned files come from the cache, nothing transferred.
    await p.goto(`${URL_A}/global`);
    await p.locator('#timeline li.tweet').first().waitFor();
    const again = await p.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => new URL(e.name).pathname.startsWith('/v/')).map((e) => [e.name, e.transferSize]));
    assert(again.length >= 20 && again.every(([, t]) => t === 0), `fetched again: ${again.filter(([, t]) => t > 0).map(([n]) => n)}`);
    // The favicon is an SVG of ours.
    const icon = await p.getAttribute('link[rel=icon]', 'href');
    const fav = await ctx.request.get(`${URL_A}${icon}`);
    assert(fav.status() === 200 && fav.headers()['content-type'] === 'image/svg+xml', `favicon ${icon}: ${fav.status()}`);
    await ctx.close();
  });

  await step('register user A on server A and user B on server B', async () => {
    await register(pa, URL_A, USER_A);
    await register(pb, URL_B, USER_B);
  });

  await step('a new account lands on people to follow and the way to the global timeline', async () => {
    const card = pb.locator('.onboarding');
    await card.waitFor();
    assert(await card.locator('a[href="/global"]').count() === 1, 'no link to the global timeline');
    await card.locator('li.user').first().waitFor();
    assert(await card.locator('li.user').count() >= 3, 'fewer than 3 people suggested');
    // The display name is the handle by default: shown once.
    assert(await pb.locator('#me-name').textContent() === `@${USER_B}`, 'header');
    assert(pb.url() === `${URL_B}/` && await pb.title() === 'Home · Chorus', `title ${await pb.title()}`);
    await axeBoth(pb, 'a new account\'s home');
    // Following a suggestion fills the home feed with their posts.
    const first = card.locator('button[data-action=follow-user]').first();
    const who = await first.getAttribute('data-user');
    await first.click();
    await card.locator(`button[data-user="${who}"][aria-pressed=true]`).waitFor();
    await pb.locator('#timeline li.tweet .meta .handle', { hasText: `@${who}` }).first().waitFor();
    // And Maya, from her profile: her posts name her, then her handle.
    const maya = S.people.maya.username;
    await go(pb, URL_B, `/u/${maya}`);
    await pb.locator('.profile h2', { hasText: 'Maya Okafor' }).waitFor();
    if (await pb.getAttribute('[data-action=follow]', 'aria-pressed') !== 'true') {
      await pb.click('[data-action=follow]');
      await pb.waitForSelector('[data-action=follow][aria-pressed=true]');
    }
    const meta = await tweetLi(pb, 'malachite kingfisher').locator('.meta').first().textContent();
    assert(meta.includes('Maya Okafor') && meta.includes(`@${maya}`), `card names: ${meta}`);
  });

  await step('B follows A from A\'s profile page', async () => {
    await go(pb, URL_B, `/u/${USER_A}`);
    await pb.waitForSelector('.profile h2');
    assert(await pb.title() === `@${USER_A} · Chorus`, `profile title ${await pb.title()}`);
    await pb.click('[data-action=follow]');
    await pb.waitForSelector('[data-action=follow][aria-pressed=true]');
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await waitLive(pb);
  });

  const T1 = `first post ${WORD}`;
  // The causal token (chorus_seen): set by the server on each write's answer
  // and raised by the page from every live event.
  const seenOf = async (ctx) =>
    Number((await ctx.cookies()).find((c) => c.name === 'chorus_seen')?.value || 0);
  await step('A posts; B\'s home feed shows it live', async () => {
    const before = await seenOf(ctxB);
    await post(pa, T1);
    await tweetLi(pb, T1).waitFor({ timeout: WAIT });
    assert(pb.url() === `${URL_B}/`, `B was not reloaded away from home (${pb.url()})`);
    const a = await seenOf(ctxA), b = await seenOf(ctxB);
    assert(a > 0, 'A\'s post set no chorus_seen cookie');
    assert(b > before, `B's chorus_seen did not rise with the live event (${before} -> ${b})`);
  });

  await step('compact cards: avatar, name, handle, time, text, icon actions with counts', async () => {
    const li = tweetLi(pb, T1);
    const card = await li.evaluate((n) => ({
      avatar: Boolean(n.querySelector('.tw > .avatar')),
      name: n.querySelector('a.name')?.textContent,
      handles: n.querySelector('.meta').textContent.split('@').length - 1,
      time: Boolean(n.querySelector('a.when time[datetime]')),
      dir: n.querySelector('.text')?.getAttribute('dir'),
      nameDir: n.querySelector('a.name')?.getAttribute('dir'),
      actions: [...n.querySelectorAll('.actions button[data-action]')].map((b) => b.dataset.action),
      labelled: [...n.querySelectorAll('.actions button')].every((b) => b.textContent.trim() || b.getAttribute('aria-label')),
      icons: n.querySelectorAll('.actions svg.icon').length,
      height: n.getBoundingClientRect().height,
    }));
    assert(card.avatar && card.time, `card parts: ${JSON.stringify(card)}`);
    assert(card.name === `@${USER_A}` && card.handles === 1, `the default name repeats the handle: ${JSON.stringify(card)}`);
    assert(card.dir === 'auto' && card.nameDir === 'auto', 'user text without dir="auto"');
    for (const a of ['reply', 'repost', 'like', 'quote', 'share']) assert(card.actions.includes(a), `no ${a} action`);
    assert(card.labelled && card.icons >= 5, 'actions without icons or names');
    assert(card.height < 130, `a one-line post is ${card.height} px tall`);
  });

  await step('B likes it; A\'s page shows the like count', async () => {
    await tweetLi(pb, T1).locator('[data-action=like]').click();
    await tweetLi(pb, T1).locator('[data-action=like][aria-pressed=true]').waitFor();
    await tweetLi(pa, T1).locator('.stats', { hasText: '1 like' }).waitFor();
  });

  await step('B replies on the tweet page; A\'s reply count changes', async () => {
    await tweetLi(pb, T1).locator('a.when').click();
    await pb.waitForURL(/\/t\/[0-9a-f]{24}$/);
    await pb.waitForSelector('#timeline li.focus');
    await pb.waitForFunction(() => document.title.includes('first post'));
    await pb.fill('#reply-text', `a reply from bob ${WORD}`);
    await pb.click('#timeline li.focus .reply-box button[type=submit]');
    await tweetLi(pb, 'a reply from bob').waitFor();
    await pb.locator('#timeline li.focus .replies', { hasText: '1 reply' }).waitFor();
    await tweetLi(pa, T1).locator('.stats', { hasText: '1 reply' }).waitFor();
    assert(await tweetLi(pb, 'a reply from bob').locator('.reply-to', { hasText: `Replying to @${USER_A}` }).count() === 1,
      'the reply does not say whom it replies to');
    await axeBoth(pb, 'a post and its replies');
  });

  await step('back and forward navigation', async () => {
    const tweetUrl = pb.url();
    await pb.goBack();
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, T1).waitFor();
    await pb.goForward();
    await pb.waitForURL(tweetUrl);
    await pb.waitForSelector('#timeline li.focus');
    await tweetLi(pb, 'a reply from bob').waitFor();
    await pb.goBack();
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, T1).waitFor();
    await waitLive(pb);
  });

  await step('B replies right from the home timeline', async () => {
    const TR = `short post to answer ${WORD}`;
    await post(pa, TR);
    const li = tweetLi(pb, TR);
    await li.waitFor();
    await li.locator('[data-action=reply]').click();
    const form = li.locator('form.reply-box');
    await form.waitFor();
    assert(await pb.evaluate(() => document.activeElement?.tagName) === 'TEXTAREA', 'the reply form is not focused');
    await axeBoth(pb, 'a reply form in the home timeline');
    await form.locator('textarea').fill(`answered from the timeline ${WORD}`);
    await form.locator('button[type=submit]').click();
    await form.waitFor({ state: 'detached' });
    await li.locator('.stats', { hasText: '1 reply' }).waitFor();
    const mine = tweetLi(pb, 'answered from the timeline');
    await mine.waitFor();
    assert(await mine.locator('.reply-to', { hasText: `Replying to @${USER_A}` }).count() === 1, 'no "Replying to"');
    await tweetLi(pa, TR).locator('.stats', { hasText: '1 reply' }).waitFor();
  });

  await step('share: the link to a post is copied', async () => {
    const li = tweetLi(pb, T1);
    const id = await li.getAttribute('data-id');
    await li.locator('[data-action=share]').click();
    await pb.locator('#msg-text', { hasText: 'Link copied' }).waitFor();
    const copied = await pb.evaluate(() => navigator.clipboard.readText());
    assert(copied === `${URL_B}/t/${id}`, `copied ${copied}`);
  });

  await step('a post of 280 user-perceived characters with 👩‍👩‍👧‍👦 is counted as the server counts it', async () => {
    const FAMILY = '👩‍👩‍👧‍👦';
    const text = `${'x'.repeat(279 - WORD.length - 1)} ${WORD}`.slice(0, 279);
    await pa.fill('#compose-text', `${text}${FAMILY}`);
    const count = async () => (await pa.locator('#compose-count').textContent()).match(/^-?\d+/)[0];
    assert(await count() === '0', `counter says ${await count()} for 280 characters`);
    assert(!(await pa.isDisabled('#post')), 'Post is disabled at 280 characters');
    await pa.fill('#compose-text', `${text}${FAMILY}y`);
    assert(await count() === '-1' && await pa.isDisabled('#post'), 'Post is enabled at 281 characters');
    await pa.fill('#compose-text', `${text}${FAMILY}`);
    await pa.click('#post');
    await tweetLi(pa, FAMILY).first().waitFor();
    assert(await pa.locator('#msg.error').count() === 0, 'the server refused 280 characters');
  });

  const T1E = `edited post ${WORD}`;
  await step('A edits the tweet; B sees the new text', async () => {
    const li = tweetLi(pa, T1);
    await li.locator('[data-action=edit]').click();
    await li.locator('.editor textarea').fill(T1E);
    await li.locator('.editor button[type=submit]').click();
    await tweetLi(pa, T1E).waitFor();
    await tweetLi(pb, T1E).waitFor();
    await tweetLi(pb, T1).filter({ hasNotText: T1E }).waitFor({ state: 'detached' });
  });

  await step('a post deleted while someone reads its page: a notice, no reply box', async () => {
    const id = await tweetLi(pb, T1E).getAttribute('data-id');
    await tweetLi(pb, T1E).locator('a.when').click();
    await pb.waitForURL(`${URL_B}/t/${id}`);
    await pb.locator('#reply-text').waitFor();
    await waitLive(pb);
    await tweetLi(pa, T1E).locator('[data-action=delete]').click();
    await tweetLi(pa, T1E).waitFor({ state: 'detached' });
    await pb.locator('#gone-note', { hasText: 'This post was deleted' }).waitFor();
    assert(await pb.locator('#reply-text').count() === 0, 'the reply box stayed');
    assert(await pb.locator('#timeline li.focus').count() === 0, 'the post stayed');
    await pb.locator('.reply-to', { hasText: 'Replying to a deleted post' }).first().waitFor();
    await pb.goBack();
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, T1E).waitFor({ state: 'detached' });
    await waitLive(pb);
  });
  // ---- conversation: entities, reposts, quotes, edit history, tags ----
  const TAG = `Chorus${sfx}`;
  const LONG_URL = `https://example.org/a/long/path/${sfx}/that/the/page/shortens`;
  // Before the entities: a combining mark, a family of 3 emoji joined by
  // ZWJ (5 code points, 8 UTF-16 units) and a flag (2 code points):
  // offsets count code points, not UTF-16 units.
  const PRE = 'e\u0301 \u{1F469}\u200D\u{1F469}\u200D\u{1F467} \u{1F1EB}\u{1F1F7} ';
  const TE = `${PRE}hello @${USER_B} #${TAG} ${LONG_URL}`;
  await step('entities are links: a mention, a hashtag, a shortened URL', async () => {
    await post(pa, TE, `hello @${USER_B}`);
    const li = tweetLi(pb, `hello @${USER_B}`);
    await li.waitFor();
    const got = await li.evaluate((n) => {
      const a = (sel) => n.querySelector(`.text ${sel}`);
      return {
        mention: a('a.mention')?.getAttribute('href'),
        mentionShown: a('a.mention')?.textContent,
        tag: a('a.hashtag')?.getAttribute('href'),
        tagShown: a('a.hashtag')?.textContent,
        url: a('a.url')?.getAttribute('href'),
        rel: a('a.url')?.getAttribute('rel'),
        shown: a('a.url')?.textContent,
        text: n.querySelector('.text').textContent,
      };
    });
    assert(got.mention === `/u/${USER_B}`, `mention links to ${got.mention}`);
    assert(got.mentionShown === `@${USER_B}`, `mention link shows ${got.mentionShown}`);
    assert(got.tag === `/tags/${TAG.toLowerCase()}`, `hashtag links to ${got.tag}`);
    assert(got.tagShown === `#${TAG}`, `hashtag link shows ${got.tagShown}`);
    assert(got.url === LONG_URL, `URL links to ${got.url}`);
    assert(got.rel === 'noopener noreferrer nofollow', `URL rel is ${got.rel}`);
    assert(got.shown.endsWith('…') && got.shown.length < LONG_URL.length, `URL shown as ${got.shown}`);
    assert(got.text.startsWith(`${PRE}hello @${USER_B} #${TAG} `), `text shown as ${got.text}`);
    await axeClean(pb, 'home with entity links');
  });

  await step('a quote: B quotes A\'s post in a dialog; A sees the count', async () => {
    const li = tweetLi(pb, `hello @${USER_B}`);
    await li.locator('[data-action=quote]').click();
    const dialog = dialogIn(pb);
    await dialog.waitFor();
    assert(await pb.evaluate(() => document.activeElement?.tagName) === 'TEXTAREA', 'focus is not in the quote form');
    await dialog.locator('.quote', { hasText: `#${TAG}` }).waitFor();
    await axeClean(pb, 'the quote dialog');
    await dialog.locator('textarea').fill(`so true ${WORD}`);
    await dialog.locator('button[type=submit]').click();
    await dialog.waitFor({ state: 'detached' });
    const quote = tweetLi(pb, `so true ${WORD}`);
    await quote.locator('.quote', { hasText: `hello @${USER_B}` }).waitFor();
    await tweetLi(pa, `hello @${USER_B}`).locator('.stats', { hasText: '1 quote' }).waitFor();
  });

  await step('the edit history: A edits; B opens "(edited)" with the keyboard', async () => {
    const li = tweetLi(pa, `hello @${USER_B}`);
    await li.locator('[data-action=edit]').click();
    await li.locator('.editor textarea').fill(`${TE} (fixed)`);
    await li.locator('.editor button[type=submit]').click();
    const edited = tweetLi(pb, '(fixed)').locator('[data-action=history]');
    await edited.waitFor();
    // B's quote of it shows the new text too, live.
    await tweetLi(pb, `so true ${WORD}`).locator('.quote .text', { hasText: '(fixed)' }).waitFor();
    await edited.focus();
    await pb.keyboard.press('Enter');
    const dialog = dialogIn(pb);
    await dialog.locator('.history li').nth(1).waitFor();
    const versions = await dialog.locator('.history li .text').allTextContents();
    assert(versions.length === 2 && versions[0].endsWith('(fixed)') && versions[1] === TE,
      `history shows ${JSON.stringify(versions)}`);
    await dialog.locator('.current').first().waitFor();
    await axeClean(pb, 'the edit history dialog');
    // A live update draws the post again while the dialog is open: focus
    // goes back to the "(edited)" button of the new drawing.
    const id = await tweetLi(pb, '(fixed)').getAttribute('data-id');
    const liked = await ctxA.request.post(`${URL_A}/api/tweet/${id}/like`, { headers: { Origin: URL_A }, data: {} });
    assert(liked.status() === 200, `A could not like: ${liked.status()}`);
    await tweetLi(pb, '(fixed)').locator('.stats', { hasText: '1 like' }).waitFor();
    await pb.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert(await pb.evaluate(() => document.activeElement?.dataset.action) === 'history',
      'focus did not return to the "(edited)" button');
  });

  // ---- images: attached, in cards, in the lightbox, avatars and headers ----
  const TI = `two pictures ${WORD}`;
  const ALT = 'The lagoon at sunrise, an old jetty on the left';
  let imageTweet = ''; // the post's id
  const uploaded = []; // the uploads' answers (POST /api/media)
  const tweetMedia = async (ctx, base, id) => (await (await ctx.request.get(`${base}/api/tweet/${id}`)).json()).media;
  await step('images: A attaches a PNG and a JPEG; previews at once, Post waits for the uploads; an alt text, counted', async () => {
    await pa.click('#nav-home');
    await pa.waitForURL(`${URL_A}/`);
    await waitLive(pa);
    // The picker: a real file input for the four types, labelled, next
    // in the tab order after the text.
    await pa.fill('#compose-text', TI);
    await pa.focus('#compose-text');
    await pa.keyboard.press('Tab');
    const picker = await pa.evaluate(() => {
      const n = document.activeElement;
      const label = n.labels && n.labels[0];
      return { id: n.id, type: n.type, multiple: n.multiple, accept: n.accept, label: label && label.textContent.trim(),
        width: label && label.getBoundingClientRect().width };
    });
    assert(picker.id === 'compose-file' && picker.type === 'file' && picker.multiple, `Tab from the text reaches ${JSON.stringify(picker)}`);
    assert(picker.accept === 'image/jpeg,image/png,image/webp,image/gif', `accept="${picker.accept}"`);
    assert(picker.label === 'Add images' && picker.width >= 24, `the picker's label: ${JSON.stringify(picker)}`);
    // A JPEG drawn by a canvas of the page; a PNG drawn in Node.
    const jpeg = Buffer.from(await pa.evaluate(async () => {
      const c = new OffscreenCanvas(640, 480);
      const g = c.getContext('2d');
      const sky = g.createLinearGradient(0, 0, 0, 480);
      sky.addColorStop(0, '#0c4a6e');
      sky.addColorStop(1, '#7dd3fc');
      g.fillStyle = sky;
      g.fillRect(0, 0, 640, 480);
      g.fillStyle = '#fde68a';
      g.beginPath();
      g.arc(460, 150, 70, 0, 2 * Math.PI);
      g.fill();
      g.fillStyle = '#166534';
      g.beginPath();
      g.moveTo(0, 480);
      g.lineTo(0, 330);
      g.quadraticCurveTo(320, 240, 640, 350);
      g.lineTo(640, 480);
      g.fill();
      const blob = await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
      return [...new Uint8Array(await blob.arrayBuffer())];
    }));
    // The uploads wait until released: their pending state is there to see.
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    await pa.route('**/api/media', async (route) => { await held; await route.continue(); });
    const onResponse = async (res) => {
      if (new URL(res.url()).pathname === '/api/media' && res.status() === 201) uploaded.push(await res.json());
    };
    pa.on('response', onResponse);
    await pa.setInputFiles('#compose-file', [
      { name: 'lagoon.png', mimeType: 'image/png', buffer: lagoon() },
      { name: 'hills.jpg', mimeType: 'image/jpeg', buffer: jpeg }]);
    const tiles = pa.locator('#compose .attachment');
    await pa.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('#compose .attachment .att-preview img')];
      return imgs.length === 2 && imgs.every((i) => i.src.startsWith('data:image/') && i.complete && i.naturalWidth > 0);
    });
    assert(await pa.locator('#compose .attachment.uploading progress:visible').count() === 2, 'no progress shown while uploading');
    assert(await pa.isDisabled('#post'), 'Post is enabled while the images upload');
    const alt = tiles.nth(0).locator('textarea.alt-text');
    assert(await alt.evaluate((t) => t.labels[0]?.textContent) === 'Image description (alt text)', 'the alt text has no label');
    await alt.fill(ALT);
    assert((await tiles.nth(0).locator('.alt-count').textContent()).startsWith(`${ALT.length} / 1500`), 'the alt text is not counted');
    await axeBoth(pa, 'the compose form with images uploading');
    release();
    await pa.locator('#compose .attachment.ready').nth(1).waitFor();
    await pa.unroute('**/api/media');
    assert(!(await pa.isDisabled('#post')), 'Post is disabled once the images are uploaded');
    await alt.fill('é'.repeat(1501));
    assert(await tiles.nth(0).locator('.alt-count.over').count() === 1 && await pa.isDisabled('#post'),
      'an alt text of 1,501 characters can be posted');
    await alt.fill(ALT);
    await pa.click('#post');
    const card = tweetLi(pa, TI);
    await card.locator('.media.n2').waitFor();
    pa.off('response', onResponse);
    await pa.locator('#compose .attachment').first().waitFor({ state: 'detached' }); // once the post is answered
    assert(await pa.inputValue('#compose-text') === '', 'the text stayed in the compose form');
    assert(uploaded.length === 2, `${uploaded.length} uploads answered`);
    imageTweet = await card.getAttribute('data-id');
  });

  await step('B sees them live on server B: two side by side, alt texts, lazy thumbnails sized before they load on their average colour', async () => {
    const li = tweetLi(pb, TI);
    await li.locator('.media.n2 img').nth(1).waitFor();
    const m = await tweetMedia(ctxB, URL_B, imageTweet);
    assert(m.length === 2 && m[0].alt === ALT && m[1].alt === '', `the post's media: ${JSON.stringify(m)}`);
    const got = await li.locator('.media img').evaluateAll((ns) => ns.map((n) => ({
      alt: n.alt, loading: n.loading, width: Number(n.getAttribute('width')), height: Number(n.getAttribute('height')),
      src: n.getAttribute('src'), bg: n.style.backgroundColor, fit: getComputedStyle(n).objectFit,
      top: n.getBoundingClientRect().top, left: n.getBoundingClientRect().left })));
    assert(got.length === 2 && got[0].alt === ALT && got[1].alt === 'Image 2 of 2', `alt texts: ${got.map((g) => g.alt)}`);
    for (const [i, g] of got.entries()) {
      const up = uploaded.find((u) => u.id === m[i].id);
      assert(up, `image ${i} (${m[i].id}) is none of the uploads`);
      assert(g.src === m[i].thumb_url && g.loading === 'lazy' && g.fit === 'cover', `image ${i}: ${JSON.stringify(g)}`);
      assert(Math.abs(g.width - up.thumb_width) <= 1 && Math.abs(g.height - up.thumb_height) <= 1,
        `image ${i} is ${g.width} x ${g.height}, its thumbnail ${up.thumb_width} x ${up.thumb_height}`);
      assert(g.bg === rgb(m[i].color), `image ${i}: background ${g.bg}, its colour ${m[i].color}`);
    }
    assert(Math.abs(got[0].top - got[1].top) < 1 && got[0].left < got[1].left, 'two images are not side by side');
    await li.locator('.media').scrollIntoViewIfNeeded();
    await pb.waitForFunction((id) => [...document.querySelectorAll(`#timeline li[data-id="${id}"] .media img`)]
      .every((i) => i.complete && i.naturalWidth > 0), imageTweet, { timeout: IMAGE_WAIT });
    await axeBoth(pb, 'home with images');
  });

  await step('the lightbox: the original and its alt text; the arrow key to the next; Escape closes, focus returns; a click outside closes; reduced motion', async () => {
    const li = tweetLi(pb, TI);
    const items = li.locator('.media-item');
    const m = await tweetMedia(ctxB, URL_B, imageTweet);
    await items.nth(0).focus();
    await pb.keyboard.press('Enter');
    const box = dialogIn(pb, '.lightbox');
    await box.waitFor();
    const shown = () => box.evaluate((d) => {
      const img = d.querySelector('.lb-img');
      const cap = d.querySelector('.lb-alt');
      return { title: document.getElementById(d.getAttribute('aria-labelledby'))?.textContent, src: img.getAttribute('src'),
        alt: img.alt, caption: cap.hidden ? null : cap.textContent, modal: d.matches(':modal'), inside: d.contains(document.activeElement) };
    });
    let s = await shown();
    assert(s.modal && s.inside, `the lightbox is not modal, or focus is outside it: ${JSON.stringify(s)}`);
    assert(s.title === 'Image 1 of 2' && s.src === m[0].url && s.alt === ALT && s.caption === ALT, `first image: ${JSON.stringify(s)}`);
    // The original (960 px wide), not the thumbnail.
    await pb.waitForFunction(() => {
      const i = document.querySelector('dialog.lightbox .lb-img');
      return i && i.complete && i.naturalWidth === 960;
    }, null, { timeout: IMAGE_WAIT });
    await settled(pb);
    await axeBoth(pb, 'the lightbox');
    await pb.keyboard.press('ArrowRight');
    s = await shown();
    assert(s.title === 'Image 2 of 2' && s.src === m[1].url && s.alt === 'Image 2 of 2' && s.caption === null,
      `second image: ${JSON.stringify(s)}`);
    // A like meanwhile draws the post again, live, under the lightbox.
    const liked = await ctxA.request.post(`${URL_A}/api/tweet/${imageTweet}/like`, { data: {}, headers: { Origin: URL_A } });
    assert(liked.status() === 200, `A could not like: ${liked.status()}`);
    await li.locator('.stats', { hasText: '1 like' }).waitFor();
    await pb.keyboard.press('Escape');
    await box.waitFor({ state: 'detached' });
    const focusOnSecond = () => pb.evaluate((id) => document.activeElement === document.querySelector(
      `#timeline li[data-id="${id}"] .media-item[data-index="1"]`), imageTweet);
    assert(await focusOnSecond(), 'focus did not return to the image shown');
    // A live update draws the post again: focus stays on that image.
    const unliked = await ctxA.request.delete(`${URL_A}/api/tweet/${imageTweet}/like`, { headers: { Origin: URL_A } });
    assert(unliked.status() === 200, `A could not unlike: ${unliked.status()}`);
    await li.locator('.stats', { hasText: '0 likes' }).waitFor();
    assert(await focusOnSecond(), 'a live update of the post took the focus off its image');
    // A click outside the image closes it too.
    await items.nth(0).click();
    await box.waitFor();
    await settled(pb);
    await pb.mouse.click(6, 160);
    await box.waitFor({ state: 'detached' });
    assert(await items.nth(0).evaluate((n) => n === document.activeElement), 'focus did not return after a click outside');
    // Its fade is motion: none when the reader asks for less.
    await items.nth(0).click();
    await box.waitFor();
    assert(await box.evaluate((d) => getComputedStyle(d).animationName) === 'lb-in', 'no fade to reduce');
    await pb.emulateMedia({ reducedMotion: 'reduce' });
    assert(await box.evaluate((d) => getComputedStyle(d).animationName) === 'none', 'the lightbox fades under reduced motion');
    await pb.emulateMedia({ reducedMotion: 'no-preference' });
    await box.locator('.lb-close').click();
    await box.waitFor({ state: 'detached' });
  });

  await step('a file that is no image is refused with the reason, one over 8 MB before it is sent, a full quota said; four at most; images alone are a post', async () => {
    const sent = [];
    const onRequest = (req) => { if (new URL(req.url()).pathname === '/api/media') sent.push(req.url()); };
    pa.on('request', onRequest);
    await pa.setInputFiles('#compose-file', [{ name: 'notes.png', mimeType: 'image/png',
      buffer: Buffer.from('Notes for Sunday: bring binoculars.\n') }]);
    const bad = pa.locator('#compose .attachment.failed');
    await bad.waitFor();
    const said = await bad.locator('.att-status').textContent();
    assert(said === 'notes.png is not a JPEG, PNG, WebP or GIF image.', `the refusal says "${said}"`);
    assert(sent.length === 1, `${sent.length} uploads sent`);
    await pa.setInputFiles('#compose-file', [{ name: 'huge.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(8 * 1024 * 1024 + 1, 0xff) }]);
    await pa.locator('#compose .attachment.failed', { hasText: 'huge.jpg is too large: an image can be at most 8 MB.' }).waitFor();
    assert(sent.length === 1, 'a file over 8 MB was sent');
    assert(await pa.isDisabled('#post'), 'Post is enabled with nothing to post');
    // An account out of room (the server's answer to a full quota, given
    // here by the page's route: filling 100 MB would take minutes).
    await pa.route('**/api/media', (route) => route.fulfill({ status: 413, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'quota_exceeded', message: 'Your images take all of your quota' } }) }));
    await pa.setInputFiles('#compose-file', [{ name: 'one-more.png', mimeType: 'image/png', buffer: png(8, 8, () => [9, 99, 199]) }]);
    await pa.locator('#compose .attachment.failed', { hasText: 'No room for one-more.png: your images use all the space your account has.' }).waitFor();
    await pa.unroute('**/api/media');
    await pa.locator('#compose .attachment.failed', { hasText: 'one-more.png' }).locator('[data-action=remove-image]').click();
    assert(sent.length === 2, `${sent.length} uploads sent`);
    await axeBoth(pa, 'the compose form with refused images');
    // Remove: focus goes to the next image's Remove, then to the picker.
    await bad.first().locator('[data-action=remove-image]').click();
    assert(await pa.evaluate(() => document.activeElement?.closest('.attachment')?.textContent.includes('huge.jpg')),
      'focus did not go to the next image');
    await pa.keyboard.press('Enter');
    assert(await pa.evaluate(() => document.activeElement?.id) === 'compose-file', 'focus did not go to the picker');
    // Five chosen at once: the first four are taken; posted without text.
    const dot = (i) => ({ name: `dot-${i}.png`, mimeType: 'image/png',
      buffer: png(64, 48, (x, y) => [40 * i, 100 + 2 * x, 220 - 2 * y]) });
    await pa.setInputFiles('#compose-file', [1, 2, 3, 4, 5].map(dot));
    await pa.locator('#msg-text', { hasText: 'A post can have up to 4 images' }).waitFor();
    assert(await pa.locator('#compose .attachment').count() === 4, 'not four images');
    await pa.locator('#compose .attachment.ready').nth(3).waitFor();
    assert(await pa.isDisabled('#compose-file'), 'the picker takes a fifth image');
    pa.off('request', onRequest);
    assert(sent.length === 6, `${sent.length} uploads sent`);
    await pa.fill('#compose-text', '');
    assert(!(await pa.isDisabled('#post')), 'images without text cannot be posted');
    await pa.click('#post');
    const grid = pa.locator('#timeline li.tweet').first().locator('.media.n4');
    await grid.waitFor();
    const tops = await grid.locator('.media-item').evaluateAll((ns) => ns.map((n) => Math.round(n.getBoundingClientRect().top)));
    assert(tops[0] === tops[1] && tops[2] === tops[3] && tops[2] > tops[0], `four images are not two rows of two: ${tops}`);
    await pa.locator('#compose .attachment').first().waitFor({ state: 'detached' });
    assert(!(await pa.isDisabled('#compose-file')), 'the picker stays disabled after the post');
  });

  await step('a quote shows the quoted post\'s images, small; a reply takes an image too', async () => {
    const li = tweetLi(pb, TI);
    await li.locator('[data-action=quote]').click();
    const dialog = dialogIn(pb);
    await dialog.locator('.quote .media.small.n2').waitFor();
    await dialog.locator('textarea').first().fill(`quoting the pictures ${WORD}`);
    await dialog.locator('button[type=submit]').click();
    await dialog.waitFor({ state: 'detached' });
    const small = async (page) => {
      const q = tweetLi(page, `quoting the pictures ${WORD}`);
      await q.locator('.quote .media.small.n2 img').nth(1).waitFor();
      return q.locator('.quote .media').evaluate((n) => n.getBoundingClientRect().width);
    };
    let w = await small(pb);
    assert(w <= 300, `the quote's images are ${w} px wide`);
    // Where the quoted post is not on screen, its images come all the same.
    await go(pb, URL_B, `/u/${USER_B}`);
    w = await small(pb);
    assert(w <= 300, `the quote's images are ${w} px wide on the profile`);
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await waitLive(pb);
    // A reply with one image: as wide as the text, its height bounded.
    const parent = pb.locator(`#timeline li.tweet[data-id="${imageTweet}"]`);
    await parent.locator('[data-action=reply]').click();
    const form = parent.locator('form.reply-box');
    await form.locator('textarea').first().fill(`a picture back ${WORD}`);
    await form.locator('input[type=file]').setInputFiles([{ name: 'jupiter.png', mimeType: 'image/png', buffer: jupiter() }]);
    await form.locator('.attachment.ready').waitFor();
    await form.locator('button[type=submit]').click();
    await form.waitFor({ state: 'detached' });
    const reply = tweetLi(pb, `a picture back ${WORD}`);
    await reply.locator('.media.n1 img').waitFor();
    const fit = await reply.evaluate((n) => ({ media: n.querySelector('.media').getBoundingClientRect().width,
      text: n.querySelector('.tw-main').getBoundingClientRect().width, img: n.querySelector('.media img').getBoundingClientRect().height }));
    assert(Math.abs(fit.media - fit.text) < 2 && fit.img > 100 && fit.img <= 421, `one image: ${JSON.stringify(fit)}`);
  });

  await step('an avatar and a header: chosen, uploaded, saved; on the profile, on one\'s cards and in the header; the header removed', async () => {
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await pa.waitForSelector('.profile h2');
    await tweetLi(pa, TI).waitFor();
    assert(await pa.locator('.profile > .banner.empty').count() === 1 && await pa.locator('.profile-head > span.avatar[data-initial]').count() === 1,
      'pictures on a profile without any');
    await pa.click('.edit-profile summary');
    await pa.setInputFiles('#pf-avatar', [{ name: 'me.png', mimeType: 'image/png', buffer: avatarImage(2) }]);
    await pa.setInputFiles('#pf-header', [{ name: 'hills.png', mimeType: 'image/png', buffer: headerImage(1) }]);
    await pa.locator('#pf-avatar-status', { hasText: 'Avatar ready' }).waitFor();
    await pa.locator('#pf-header-status', { hasText: 'Header image ready' }).waitFor();
    await pa.waitForFunction(() => [...document.querySelectorAll('.pf-preview img')].length === 2);
    await axeBoth(pa, 'the profile form with pictures chosen');
    await pa.click('.profile-form button[type=submit]');
    const pic = pa.locator('.profile .avatar-btn img.avatar');
    await pic.waitFor();
    const me = await (await ctxA.request.get(`${URL_A}/api/me`)).json();
    assert(me.avatar && me.header, `GET /api/me: ${JSON.stringify(me)}`);
    assert(await pic.getAttribute('src') === me.avatar.thumb_url, 'the profile shows another avatar');
    assert(await pa.locator('.profile > .banner img').getAttribute('src') === me.header.url, 'the profile shows another header');
    // At once on one's cards, in the session bar and the compose form's.
    const mine = await pa.$$eval('#timeline li.tweet .tw > .avatar', (ns) => ns.map((n) => n.getAttribute('src')));
    assert(mine.length > 1 && mine.every((src) => src === me.avatar.thumb_url), `avatars of my cards: ${mine}`);
    assert(await pa.getAttribute('#me-avatar img', 'src') === me.avatar.thumb_url, 'the session bar has another avatar');
    await imagesInView(pa);
    await axeBoth(pa, 'a profile with an avatar and a header');
    // The avatar opens in the lightbox, named.
    await pa.click('.profile .avatar-btn');
    const box = dialogIn(pa, '.lightbox');
    await box.locator('.lb-alt', { hasText: `Avatar of @${USER_A}` }).waitFor();
    assert(await box.locator('.lb-img').getAttribute('src') === me.avatar.url, 'the lightbox shows another avatar');
    await pa.keyboard.press('Escape');
    await box.waitFor({ state: 'detached' });
    assert(await pa.evaluate(() => document.activeElement?.classList.contains('avatar-btn')), 'focus did not return to the avatar');
    // On server B, A's cards have it.
    await go(pb, URL_B, `/u/${USER_A}`);
    await pb.locator('.profile .avatar-btn img.avatar').waitFor();
    await tweetLi(pb, TI).waitFor();
    const onB = await pb.$$eval('#timeline li.tweet .tw > .avatar', (ns) => ns.map((n) => n.getAttribute('src')));
    assert(onB.length > 1 && onB.every((src) => src === me.avatar.thumb_url), `avatars of A's cards on B: ${onB}`);
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await waitLive(pb);
    // The header removed: a band of colour again; the avatar stays.
    await pa.click('.edit-profile summary');
    await pa.click('[data-action=remove-header]');
    await pa.locator('#pf-header-status', { hasText: 'removed' }).waitFor();
    await pa.click('.profile-form button[type=submit]');
    await pa.locator('.profile > .banner.empty').waitFor();
    const after = await (await ctxA.request.get(`${URL_A}/api/me`)).json();
    assert(after.header === null && after.avatar && after.avatar.id === me.avatar.id, `after removing the header: ${JSON.stringify(after)}`);
    await pa.click('#nav-home');
    await pa.waitForURL(`${URL_A}/`);
    await waitLive(pa);
  });

  await step('reposts: A reposts C\'s post; B sees it "reposted by" A, live', async () => {
    // C posts through the API only; A finds the post on the global timeline.
    const ctxC = await browser.newContext();
    const userC = `ec_${sfx}`;
    const asC = (path, data) => ctxC.request.post(`${URL_A}${path}`, { data, headers: { Origin: URL_A } });
    assert((await asC('/api/register', { username: userC, password: 'tinfoil kazoo 42' })).status() === 201,
      'C could not register');
    const TC = `carol's post ${WORD}`;
    const made = await asC('/api/tweet', { text: TC });
    assert(made.status() === 201, 'C could not post');
    const cid = (await made.json()).id;
    await pa.click('#nav-global');
    await pa.waitForURL(`${URL_A}/global`);
    const onA = tweetLi(pa, TC);
    await pb.evaluate(() => window.scrollTo(0, 0)); // new items go on top
    await onA.locator('[data-action=repost]').click();
    await onA.locator('[data-action=repost][aria-pressed=true]', { hasText: '1 repost' }).waitFor();
    const onB = tweetLi(pb, TC);
    await onB.locator('.reposted-by', { hasText: 'reposted' }).waitFor();
    // C edits the post: B's item takes the new text and stays a repost.
    const put = await ctxC.request.put(`${URL_A}/api/tweet/${cid}`,
      { data: { text: `${TC} (edited)` }, headers: { Origin: URL_A } });
    assert(put.status() === 200, 'C could not edit');
    await tweetLi(pb, `${TC} (edited)`).locator('.reposted-by').waitFor();
    await axeClean(pb, 'home with a repost');
    // B reposts it too: still one item, now B's repost (the newest), as
    // a reload shows it.
    await onB.locator('[data-action=repost]').click();
    await onB.locator(`.reposted-by a[href="/u/${USER_B}"]`).waitFor();
    assert(await tweetLi(pb, TC).count() === 1, 'the post is on B\'s home twice');
    await pb.reload();
    await waitLive(pb);
    await tweetLi(pb, TC).locator(`.reposted-by a[href="/u/${USER_B}"]`).waitFor();
    assert(await tweetLi(pb, TC).count() === 1, 'the post is on B\'s reloaded home twice');
    // A undoes theirs: B's item stays; B undoes too: it leaves B's feed.
    await onA.locator('[data-action=repost]').click();
    await onA.locator('[data-action=repost][aria-pressed=false]').waitFor();
    await tweetLi(pb, TC).locator('[data-action=repost]', { hasText: '1 repost' }).waitFor();
    await tweetLi(pb, TC).locator(`.reposted-by a[href="/u/${USER_B}"]`).waitFor();
    await tweetLi(pb, TC).locator('[data-action=repost][aria-pressed=true]').click();
    await tweetLi(pb, TC).waitFor({ state: 'detached' });
    // B reposts a post of A's (whom B follows) and undoes it: the post
    // stays on B's home, as itself, live and as a reload shows it.
    const TA = `anna's post to repost ${WORD}`;
    const madeA = await ctxA.request.post(`${URL_A}/api/tweet`, { data: { text: TA }, headers: { Origin: URL_A } });
    assert(madeA.status() === 201, 'A could not post');
    const onBA = tweetLi(pb, TA);
    await onBA.waitFor();
    await onBA.locator('[data-action=repost]').click();
    await onBA.locator(`.reposted-by a[href="/u/${USER_B}"]`).waitFor();
    await onBA.locator('[data-action=repost][aria-pressed=true]').click();
    await onBA.locator('[data-action=repost][aria-pressed=false]').waitFor();
    await onBA.locator('.reposted-by').waitFor({ state: 'detached' });
    assert(await tweetLi(pb, TA).count() === 1, 'A\'s post left B\'s home with B\'s repost');
    await pb.reload();
    await waitLive(pb);
    await tweetLi(pb, TA).waitFor();
    // B quotes C's post; C deletes it: B's quote stays and says the post
    // is unavailable, live and after a reload.
    const TQ = `quoting carol ${WORD}`;
    const quoted = await ctxB.request.post(`${URL_B}/api/tweet`,
      { data: { text: TQ, quote_of: cid }, headers: { Origin: URL_B } });
    assert(quoted.status() === 201, 'B could not quote');
    await tweetLi(pb, TQ).locator('.quote', { hasText: TC }).waitFor();
    const gone = await ctxC.request.delete(`${URL_A}/api/tweet/${cid}`, { headers: { Origin: URL_A } });
    assert(gone.status() === 200, 'C could not delete');
    await tweetLi(pb, TQ).locator('.quote.unavailable').waitFor();
    await pb.reload();
    await waitLive(pb);
    await tweetLi(pb, TQ).locator('.quote.unavailable').waitFor();
    await ctxC.close();
    await pa.click('#nav-home');
    await pa.waitForURL(`${URL_A}/`);
    await waitLive(pa);
  });

  await step('a tag page: B follows the hashtag link; new posts come live', async () => {
    await tweetLi(pb, '(fixed)').locator('a.hashtag').click();
    await pb.waitForURL(`${URL_B}/tags/${TAG.toLowerCase()}`);
    await pb.locator('#view h2', { hasText: `#${TAG.toLowerCase()}` }).waitFor();
    await tweetLi(pb, '(fixed)').waitFor();
    await waitLive(pb);
    const TT = `another #${TAG.toUpperCase()} post ${WORD}`;
    await post(pa, TT);
    await tweetLi(pb, TT).waitFor();
    // An edit that gives a post the tag brings it, live; one that takes
    // the tag away takes it off.
    const asA = (method, path, data) => ctxA.request.fetch(`${URL_A}${path}`, { method, data, headers: { Origin: URL_A } });
    const made = await asA('POST', '/api/tweet', { text: `untagged for now ${WORD}` });
    assert(made.status() === 201, 'A could not post');
    const eid = (await made.json()).id;
    const TG = `tagged by an edit #${TAG} ${WORD}`;
    assert((await asA('PUT', `/api/tweet/${eid}`, { text: TG })).status() === 200, 'A could not edit');
    await tweetLi(pb, TG).waitFor();
    assert((await asA('PUT', `/api/tweet/${eid}`, { text: `untagged again ${WORD}` })).status() === 200, 'A could not edit');
    await tweetLi(pb, TG).waitFor({ state: 'detached' });
    assert(await pb.locator('#trends:not([hidden]) a[href^="/tags/"]').count() > 0, 'no trends box');
    await axeBoth(pb, 'the tag page');
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await waitLive(pb);
  });

  await step('XSS payload in a display name and a tweet renders as text', async () => {
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await pa.waitForSelector('.profile h2');
    await pa.click('.edit-profile summary');
    await pa.fill('#pf-name', XSS);
    await pa.click('.profile-form button[type=submit]');
    await pa.locator('.profile h2', { hasText: XSS }).waitFor();
    await pa.click('#nav-home');
    await pa.waitForURL(`${URL_A}/`);
    await waitLive(pa);
    const TX = `xss ${WORD} ${XSS}`;
    await post(pa, TX);
    const li = tweetLi(pb, TX);
    await li.waitFor();
    await li.locator('a.name', { hasText: XSS }).waitFor();
    for (const [tag, page] of [['A', pa], ['B', pb]]) {
      const r = await tweetLi(page, TX).evaluate((n) => ({
        imgs: n.querySelectorAll('img:not([src^="/media/"])').length,
        text: n.querySelector('.text').textContent,
        name: n.querySelector('a.name').textContent,
      }));
      assert(r.imgs === 0, `${tag}: <img> element created inside the tweet`);
      assert(r.text === TX, `${tag}: tweet text shown as "${r.text}"`);
      assert(r.name === XSS, `${tag}: display name shown as "${r.name}"`);
      assert(await page.locator('.profile h2 img, .profile img[src=x], img[src=x]').count() === 0,
        `${tag}: an <img src=x> exists in the page`);
      assert(await page.evaluate(() => window.__xss) === undefined, `${tag}: window.__xss is set`);
    }
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await tweetLi(pa, TX).waitFor();
    assert(await pa.locator('.profile h2').textContent() === XSS, 'A: profile name not shown as text');
    assert(await pa.locator('.profile img:not([src^="/media/"]), #timeline img:not([src^="/media/"])').count() === 0,
      'A: an <img> not of ours on the profile page');
    assert(await pa.evaluate(() => window.__xss) === undefined, 'A: window.__xss is set on the profile');
    await axeBoth(pa, 'profile');
  });

  await step('search finds a tweet by a word', async () => {
    await pb.click('#nav-search');
    await pb.waitForURL(/\/search/);
    await pb.fill('#search-q', WORD);
    await pb.press('#search-q', 'Enter');
    await pb.waitForURL(/\/search\?q=/);
    await tweetLi(pb, `xss ${WORD}`).waitFor();
    await tweetLi(pb, 'a reply from bob').waitFor();
    assert(await pb.evaluate(() => window.__xss) === undefined, 'B: window.__xss is set on search');
    await axeBoth(pb, 'search');
  });

  await step('A\'s notifications list the follow, like and reply', async () => {
    await pa.click('#nav-notifications');
    await pa.waitForURL(`${URL_A}/notifications`);
    await pa.locator('#notes li.note', { hasText: 'replied to your post' }).first().waitFor();
    await pa.locator('#notes li.note', { hasText: 'liked your post' }).first().waitFor();
    await pa.locator('#notes li.note', { hasText: 'quoted your post' }).first().waitFor();
    await axeBoth(pa, 'notifications');
    await pa.goBack();
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await pa.waitForSelector('.profile h2');
  });

  await step('A\'s followers page lists B; B\'s following page lists A', async () => {
    await pa.click('.profile .counts a[href$="/followers"]');
    await pa.waitForURL(`${URL_A}/u/${USER_A}/followers`);
    await pa.locator('ul.users li.user', { hasText: `@${USER_B}` }).waitFor();
    await pa.goto(`${URL_A}/u/${USER_B}/following`);
    await pa.locator('ul.users li.user', { hasText: `@${USER_A}` }).waitFor();
    await pa.click(`ul.users li.user a.name`);
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await pa.waitForSelector('.profile h2');
  });


  await step('the global timeline and a profile update live; replies name their parent, no request each', async () => {
    const asked = [];
    const onRequest = (req) => {
      const m = /^\/api\/tweet\/([0-9a-f]{24})$/.exec(new URL(req.url()).pathname);
      if (m) asked.push(m[1]);
    };
    pb.on('request', onRequest);
    await pb.click('#nav-global');
    await pb.waitForURL(`${URL_B}/global`);
    await tweetLi(pb, 'answered from the timeline').waitFor();
    await waitLive(pb);
    pb.off('request', onRequest);
    // Only quoted posts are asked for: a quote's images are theirs.
    const quoted = await pb.$$eval('#timeline .quote a.when', (as) => as.map((a) => a.getAttribute('href').slice(3)));
    const extra = asked.filter((id) => !quoted.includes(id));
    assert(extra.length === 0, `the global timeline asked for ${extra.length} parents: ${extra}`);
    assert(await pb.locator('#timeline .reply-to').count() >= 2, 'too few replies on the global timeline');
    assert(await tweetLi(pb, 'answered from the timeline').locator('.reply-to', { hasText: `Replying to @${USER_A}` }).count() === 1,
      'a reply does not name its parent\'s author');
    assert(await pb.title() === 'Global timeline · Chorus', `title ${await pb.title()}`);
    const L = await apiUser(URL_A, `el_${sfx}`);
    const TL = `live on the global timeline ${WORD}`;
    await L.post(TL);
    await tweetLi(pb, TL).waitFor(); // B follows nobody called el_
    await go(pb, URL_B, `/u/${L.name}`);
    await tweetLi(pb, TL).waitFor();
    await waitLive(pb);
    const other = `not on that profile ${WORD}`;
    await pa.click('#nav-home');
    await pa.waitForURL(`${URL_A}/`);
    await post(pa, other);
    const TP = `live on my profile ${WORD}`;
    await L.post(TP);
    await tweetLi(pb, TP).waitFor();
    assert(await tweetLi(pb, other).count() === 0, 'another user\'s post came onto the profile');
    await L.ctx.close();
  });

  await step('"Show N new posts" stays in sight while the reader is scrolled down', async () => {
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, 'malachite kingfisher').first().waitFor();
    await waitLive(pb);
    await pb.evaluate(() => window.scrollTo(0, 900));
    assert(await pb.evaluate(() => window.scrollY) > 600, 'the home feed is too short to scroll');
    const TN = `a new post while scrolled ${WORD}`;
    await post(pa, TN);
    await pb.locator('#new-tweets:not([hidden])').waitFor();
    const box = await pb.evaluate(() => {
      const r = document.getElementById('new-tweets').getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, h: innerHeight, text: document.getElementById('new-tweets').textContent };
    });
    assert(box.top >= 0 && box.bottom <= box.h, `the button is out of sight: ${JSON.stringify(box)}`);
    assert(box.text === 'Show 1 new post', box.text);
    assert(await tweetLi(pb, TN).count() === 0, 'the post was inserted under the reader');
    await pb.click('#new-tweets');
    await tweetLi(pb, TN).waitFor();
    await pb.waitForFunction(() => window.scrollY < 50);
  });

  await step('Back brings a list back as it was: "Load more" pages and the scroll position', async () => {
    const K = await apiUser(URL_A, `ek_${sfx}`);
    for (let i = 1; i <= 25; i++) await K.post(`numbered post ${i} of 25`);
    await K.ctx.close();
    await go(pb, URL_B, `/u/${K.name}`);
    await tweetLi(pb, 'numbered post 25 of').waitFor();
    await pb.waitForSelector('#more:not([hidden])');
    assert(await pb.locator('#timeline li.tweet').count() === 20, 'the first page is not 20 posts');
    await pb.click('#more');
    await tweetLi(pb, 'numbered post 1 of').waitFor();
    await pb.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    const y = await pb.evaluate(() => window.scrollY);
    assert(y > 1500, `scrolled to ${y} only`);
    await tweetLi(pb, 'numbered post 3 of').locator('a.when').click();
    await pb.waitForURL(/\/t\/[0-9a-f]{24}$/);
    await pb.waitForSelector('#timeline li.focus');
    await pb.goBack();
    await pb.waitForURL(`${URL_B}/u/${K.name}`);
    await tweetLi(pb, 'numbered post 1 of').waitFor();
    assert(await pb.locator('#timeline li.tweet').count() === 25, 'the second page is gone');
    await pb.waitForFunction((want) => Math.abs(window.scrollY - want) <= 2, y);
  });

  await step('a post that arrives live before a list\'s first page: the page keeps "Load more"', async () => {
    const M = await apiUser(URL_A, `em_${sfx}`);
    for (let i = 1; i <= 21; i++) await M.post(`early post ${i} of 21`);
    // The profile's first page is held until a new post has come live.
    let release;
    const held = new Promise((r) => { release = r; });
    let asked;
    const sent = new Promise((r) => { asked = r; });
    const pattern = `**/api/users/${M.name}/tweets*`;
    await pb.route(pattern, async (route) => { asked(); await held; await route.continue(); });
    await go(pb, URL_B, `/u/${M.name}`); // a profile after a profile: the timeline stays watched
    await sent;
    await M.post('early post 22, live');
    await tweetLi(pb, 'early post 22, live').waitFor();
    release();
    await tweetLi(pb, 'early post 3 of').waitFor();
    await pb.waitForSelector('#more:not([hidden])');
    const texts = await pb.$$eval('#timeline li.tweet .text', (ps) => ps.map((p) => p.textContent));
    assert(texts.length === 20 && texts[0] === 'early post 22, live' && texts[19] === 'early post 3 of 21',
      `the first page with the live post: ${JSON.stringify(texts)}`);
    await pb.unroute(pattern);
    await pb.click('#more');
    await tweetLi(pb, 'early post 1 of').waitFor();
    assert(await pb.locator('#timeline li.tweet').count() === 22, 'the second page');
    await M.ctx.close();
  });

  await step('a new display name shows on one\'s own posts at once', async () => {
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await tweetLi(pa, 'not on that profile').waitFor();
    await pa.click('.edit-profile summary');
    await pa.fill('#pf-name', 'Ann Example');
    await pa.click('.profile-form button[type=submit]');
    await pa.locator('.profile h2', { hasText: 'Ann Example' }).waitFor();
    const names = await pa.$$eval('#timeline li.tweet .meta > a.name', (as) => as.map((a) => a.textContent));
    assert(names.length > 0 && names.every((n) => n === 'Ann Example'), `names on the profile: ${names}`);
    assert(await pa.title() === `Ann Example (@${USER_A}) · Chorus`, `title ${await pa.title()}`);
  });

  await step('errors are said once: no such user, a missing post without a reply box, one message at a time', async () => {
    await go(pb, URL_B, `/u/nobody_${sfx}`);
    await pb.locator('#view h2', { hasText: 'No such user' }).waitFor();
    assert(await pb.getByText('No such user', { exact: true }).count() === 1, '"No such user" shown more than once');
    assert(await pb.isHidden('#msg'), `a message too: ${await pb.textContent('#msg-text')}`);
    assert(await pb.title() === 'No such user · Chorus', `title ${await pb.title()}`);
    await go(pb, URL_B, '/t/0123456789abcdef01234567');
    await pb.locator('#view h2', { hasText: 'This post does not exist' }).waitFor();
    assert(await pb.locator('.reply-box, #reply-text').count() === 0, 'a reply box for a missing post');
    assert(await pb.isHidden('#msg'), 'a message too');
    // A refused registration's message goes when the next attempt fails
    // the form's own check.
    const ctx = await newContext();
    const p = await ctx.newPage(); watch(p, 'errors');
    await p.goto(`${URL_A}/`);
    await p.waitForSelector('#auth:not([hidden])');
    await p.fill('#auth-user', USER_A);
    await p.fill('#auth-pass', 'tinfoil kazoo 42');
    await p.click('#register');
    await p.locator('#msg.error').waitFor();
    await p.fill('#auth-pass', 'short');
    await p.click('#login');
    await p.waitForSelector('#msg', { state: 'hidden' });
    await ctx.close();
  });

  await step('offline: the status says so, and Live again once back online', async () => {
    await pb.click('#nav-home');
    await waitLive(pb);
    await ctxB.setOffline(true);
    await pb.waitForFunction(() => document.querySelector('#live-status')?.textContent === 'Offline');
    await ctxB.setOffline(false);
    await waitLive(pb);
  });

  await step('each view has its own title; right-to-left text; reduced motion', async () => {
    const titles = new Map();
    for (const [path, want] of [['/', 'Home · Chorus'], ['/global', 'Global timeline · Chorus'],
      ['/search', 'Search · Chorus'], ['/notifications', 'Notifications · Chorus'], ['/tags/birding', '#birding · Chorus'],
      [`/u/${S.people.maya.username}`, `Maya Okafor (@${S.people.maya.username}) · Chorus`],
      [`/t/${S.conversation}`, 'Maya Okafor: “Saw a malachite kingfisher on the lagoon…” · Chorus']]) {
      await go(pb, URL_B, path);
      await pb.waitForFunction((t) => document.title === t, want).catch(async () => {
        throw new Error(`${path}: title "${await pb.title()}", expected "${want}"`);
      });
      titles.set(path, await pb.title());
    }
    assert(new Set(titles.values()).size === titles.size, 'two views share a title');
    await go(pb, URL_B, `/u/${S.people.layla.username}`);
    const rtl = tweetLi(pb, 'صباح الخير');
    await rtl.waitFor();
    const dir = (loc) => loc.evaluate((n) => getComputedStyle(n).direction);
    assert(await dir(rtl.locator('.text')) === 'rtl', 'an Arabic post is not right to left');
    assert(await dir(pb.locator('.profile .bio')) === 'rtl' && await dir(pb.locator('.profile h2')) === 'rtl',
      'an Arabic name and bio are not right to left');
    await go(pb, URL_B, `/u/${S.people.maya.username}`);
    const ltr = tweetLi(pb, 'old jetty');
    await ltr.waitFor();
    assert(await dir(ltr.locator('.text')) === 'ltr', 'an English post is not left to right');
    const motion = () => pb.evaluate(() => getComputedStyle(document.querySelector('#timeline .act')).transitionDuration);
    assert(await motion() !== '0s', 'no transition to reduce');
    await pb.emulateMedia({ reducedMotion: 'reduce' });
    assert(await motion() === '0s', 'reduced motion still moves');
    await pb.emulateMedia({ reducedMotion: 'no-preference' });
  });

  await step('desktop layouts (1280, 1920): navigation, timeline, side column; phone (390 x 844): one line', async () => {
    const layout = () => pb.evaluate(() => {
      const box = (sel) => { const n = document.querySelector(sel); const r = n && n.getBoundingClientRect(); return r && r.width ? { x: r.x, y: r.y, w: r.width, h: r.height, right: r.right, bottom: r.bottom } : null; };
      return { rail: box('.rail'), main: box('.main'), side: box('.side'), search: box('#side-q'), trends: box('#trends'),
        who: box('#who'), width: innerWidth, scroll: document.documentElement.scrollWidth,
        nav: [...document.querySelectorAll('.nav a:not([hidden])')].map((a) => a.getBoundingClientRect()).map((r) => ({ y: r.y, h: r.height })),
        me: box('#me-name') };
    });
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, 'malachite kingfisher').first().waitFor();
    for (const width of [1280, 1920]) {
      await pb.setViewportSize({ width, height: 900 });
      await pb.locator('#who:not([hidden]) li.user').first().waitFor();
      const l = await layout();
      assert(l.rail && l.main && l.side && l.search && l.trends && l.who, `${width}: a column or box is missing: ${JSON.stringify(l)}`);
      assert(l.rail.right <= l.main.x && l.main.right <= l.side.x, `${width}: columns overlap`);
      assert(l.main.w >= 560 && l.main.w <= 600, `${width}: the timeline is ${l.main.w} px wide`);
      assert(Math.abs(l.rail.x - (width - l.side.right)) < 40, `${width}: not centred`);
      assert(l.scroll <= width, `${width}: scrolls sideways`);
    }
    await axeBoth(pb, 'home at 1920');
    await pb.setViewportSize({ width: 390, height: 844 });
    const l = await layout();
    assert(l.rail.h <= 60, `the phone's bar is ${l.rail.h} px tall`);
    assert(l.me && l.me.w > 20, 'the handle is not shown on a phone');
    const mid = (b) => b.y + b.h / 2;
    for (const n of l.nav.concat([l.me])) {
      assert(Math.abs(mid(n) - mid(l.rail)) < 8, `the handle and the navigation are not on one line: ${JSON.stringify(l)}`);
    }
    assert(!l.side, 'a side column on a phone');
    assert(l.scroll <= 390, `the phone scrolls sideways (${l.scroll})`);
    await axeBoth(pb, 'home on a phone');
    await pb.setViewportSize(DESKTOP);
  });

  await step('logged out in one tab: the other server\'s tab drops the user and its socket at once', async () => {
    const pa3 = await ctxA.newPage(); watch(pa3, 'A3');
    const sockets = [];
    pa3.on('websocket', (ws) => sockets.push(ws));
    await pa3.goto(`${URL_B}/`);
    await pa3.waitForSelector('#compose:not([hidden])');
    await waitLive(pa3);
    await pa.click('#logout');
    await pa.waitForSelector('#auth:not([hidden])');
    await pa3.waitForSelector('#auth:not([hidden])');
    await pa3.waitForSelector('#session', { state: 'hidden' });
    await pa3.waitForFunction(() => document.querySelector('#live-status')?.textContent !== 'Live');
    assert(sockets.length >= 1, 'no WebSocket was opened');
    await Promise.all(sockets.map((w) => (w.isClosed() ? null : w.waitForEvent('close'))));
    await pa3.click('#nav-home');
    await pa3.waitForURL(`${URL_B}/`);
    assert(await pa3.locator('#msg-text', { hasText: 'not logged in' }).count() === 0, '"You are not logged in" while logged out');
    assert(await pa3.isHidden('#nav-notifications') && await pa3.isHidden('#session'), 'the header still shows the account');
    await pa3.close();
    await login(pa, URL_A, USER_A, 'tinfoil kazoo 42');
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await pa.waitForSelector('.profile h2');
  });

  await step('A changes the password: A\'s other session (on B) is logged out live', async () => {
    const ctxA2 = await browser.newContext({ viewport: { width: 900, height: 900 } });
    ctxA2.setDefaultTimeout(WAIT);
    const pa2 = await ctxA2.newPage(); watch(pa2, 'A2');
    // Closed with CLOSE.SESSION_ENDED, the page logs out without trying
    // to connect again (a reconnect would be refused, then /api/me asked).
    let sockets = 0;
    pa2.on('websocket', () => { sockets++; });
    const loginA2 = async (password) => {
      sockets = 0;
      await login(pa2, URL_B, USER_A, password);
    };
    const loggedOut = async () => {
      await pa2.waitForSelector('#auth:not([hidden])');
      await pa2.locator('#msg-text', { hasText: 'Your session ended' }).waitFor();
      assert(sockets === 1, `A2: ${sockets} WebSockets opened for one session`);
    };
    await loginA2('tinfoil kazoo 42');
    await pa.click('.account summary');
    await pa.fill('#pw-current', 'tinfoil kazoo 42');
    await pa.fill('#pw-new', 'marimba zest 77');
    await pa.click('.password-form button[type=submit]');
    await pa.locator('#msg-text', { hasText: 'Password changed' }).waitFor();
    await loggedOut();
    assert(await pa.locator('#me-name').textContent() === `@${USER_A}`, 'A: logged out by its own password change');
    await waitLive(pa);
    // The new password logs in; "Log out other sessions" ends that session too.
    await loginA2('marimba zest 77');
    await pa.click('[data-action=end-sessions]');
    await pa.locator('#msg-text', { hasText: 'other sessions are logged out' }).waitFor();
    await loggedOut();
    await ctxA2.close();
  });

  await step('no unexpected console errors', async () => {
    assert(errors.length === 0, `\n  ${errors.join('\n  ')}`);
  });
} catch (e) {
  if (failed === 0) { failed++; console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`); }
  if (errors.length) console.log(`console errors so far:\n  ${errors.join('\n  ')}`);
} finally {
  if (browser) await browser.close().catch(() => {});
}
finish(failed ? 1 : 0);
