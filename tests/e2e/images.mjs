// Images drawn here, without any file or download: a PNG encoder (zlib's
// deflate, and the CRC-32 PNG chunks need) and a few scenes, drawn
// pixel by pixel from smooth gradients and shapes, for the seeded
// instance (seed.mjs) and the browser test (spa.test.mjs).
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// A PNG (8-bit RGB) of width x height whose pixel (x, y) is pixel(x, y):
// [r, g, b], each 0-255.
export function png(width, height, pixel) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let i = 0;
  for (let y = 0; y < height; y++) {
    raw[i++] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      raw[i++] = clamp(r);
      raw[i++] = clamp(g);
      raw[i++] = clamp(b);
    }
  }
  const head = Buffer.alloc(13);
  head.writeUInt32BE(width, 0);
  head.writeUInt32BE(height, 4);
  head[8] = 8; // bit depth
  head[9] = 2; // colour type: RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', head), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));
const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * Math.max(0, Math.min(1, t)));
const smooth = (e0, e1, x) => {
  const t = Math.max(0, Math.min(1, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};
const parsed = new Map();
const hex = (s) => {
  let c = parsed.get(s);
  if (!c) parsed.set(s, (c = [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16))));
  return c;
};

// A colour ramp through stops [[t, '#rrggbb'], ...] at t (0-1).
function ramp(stops, t) {
  for (let i = 1; i < stops.length; i++) {
    if (t <= stops[i][0]) {
      const [t0, c0] = stops[i - 1];
      const [t1, c1] = stops[i];
      return mix(hex(c0), hex(c1), (t - t0) / (t1 - t0));
    }
  }
  return hex(stops[stops.length - 1][1]);
}

// Deterministic noise in [0, 1) for integer points (stars, rain).
const hash = (x, y, s = 0) => {
  let h = (x * 374761393 + y * 668265263 + s * 2147483647) | 0;
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
};

// A lagoon at sunrise: sky, sun, water with its reflection, a jetty.
export function lagoon(w = 960, h = 640) {
  const horizon = h * 0.58;
  const sun = [w * 0.62, horizon - h * 0.09];
  return png(w, h, (x, y) => {
    if (y < horizon) {
      let c = ramp([[0, '#2b3a67'], [0.45, '#b35c7d'], [0.8, '#f29e6d'], [1, '#ffd59e']], y / horizon);
      const d = Math.hypot(x - sun[0], y - sun[1]) / h;
      c = mix(c, hex('#fff4d6'), 1 - smooth(0.05, 0.065, d));
      c = mix(c, hex('#ffd9a0'), 0.35 * (1 - smooth(0.06, 0.3, d)));
      const hills = horizon - h * (0.05 + 0.03 * Math.sin(x / w * 7) + 0.02 * Math.sin(x / w * 17 + 1));
      if (y > hills) c = mix(c, hex('#3d3452'), 0.85);
      return c;
    }
    const t = (y - horizon) / (h - horizon);
    let c = ramp([[0, '#e7a27e'], [0.4, '#6f6a8f'], [1, '#253052']], t);
    const glint = Math.abs(x - sun[0]) < w * (0.02 + 0.1 * t) && Math.sin(y * 0.9 + Math.sin(x * 0.05) * 3) > 0.2;
    if (glint) c = mix(c, hex('#ffe2b3'), 0.55 * (1 - t));
    const post = [0.12, 0.17, 0.22, 0.27].some((p) => Math.abs(x - w * p) < w * 0.006) && y < horizon + h * (0.05 + 0.1 * (x / w));
    const deck = y > horizon + h * 0.01 && y < horizon + h * 0.025 && x < w * 0.3;
    if (post || deck) c = hex('#2a2436');
    return c;
  });
}

// Pasta on a plate, seen from above: tagliatelle in a nest, sage leaves.
export function pasta(w = 800, h = 800) {
  const cx = w / 2;
  const cy = h / 2;
  const r = Math.min(w, h);
  return png(w, h, (x, y) => {
    const d = Math.hypot(x - cx, y - cy) / r;
    let c = ramp([[0, '#a2673f'], [1, '#6e3f22']], (x + y) / (w + h));
    c = mix(c, hex('#4b2a16'), 0.25 * (0.5 + 0.5 * Math.sin(y * 0.06 + Math.sin(x * 0.01) * 4)));
    if (d < 0.46) c = mix(hex('#3b2415'), c, smooth(0.44, 0.5, d)); // shadow
    if (d < 0.43) c = mix(hex('#f4f1ea'), hex('#dcd6ca'), smooth(0.3, 0.43, d));
    if (d < 0.3) c = mix(hex('#e9e4d8'), c, smooth(0.28, 0.3, d));
    const a = Math.atan2(y - cy, x - cx);
    const swirl = Math.sin(d * 120 + a * 3);
    if (d < 0.25 && swirl > 0.1) c = mix(hex('#f2cf6b'), hex('#d9a73e'), (1 - swirl) + d * 2);
    for (const [lx, ly, rot] of [[0.44, 0.42, 0.6], [0.57, 0.52, -0.9], [0.47, 0.6, 2.2]]) {
      const dx = x / w - lx;
      const dy = y / h - ly;
      const u = dx * Math.cos(rot) + dy * Math.sin(rot);
      const v = -dx * Math.sin(rot) + dy * Math.cos(rot);
      if ((u / 0.055) ** 2 + (v / 0.022) ** 2 < 1) c = mix(hex('#5d7f4a'), hex('#7fa163'), 0.5 + u * 8);
    }
    return c;
  });
}

// Jupiter and three of its moons in a dark sky.
export function jupiter(w = 960, h = 640) {
  const cx = w * 0.42;
  const cy = h * 0.5;
  const R = h * 0.2;
  return png(w, h, (x, y) => {
    let c = ramp([[0, '#05070f'], [1, '#111a33']], Math.hypot(x - cx, y - cy) / w);
    if (hash(x, y) > 0.9993) c = mix(c, [255, 255, 255], 0.5 + hash(y, x));
    const d = Math.hypot(x - cx, y - cy);
    if (d < R) {
      const lat = (y - cy) / R;
      const band = 0.5 + 0.5 * Math.sin(lat * 11 + 0.6 * Math.sin((x - cx) / R * 3));
      c = mix(hex('#e9d4b0'), hex('#b9805a'), band * 0.8);
      if (Math.hypot((x - cx) / R - 0.3, lat - 0.35) < 0.12) c = mix(c, hex('#c4553b'), 0.8);
      c = mix(c, [0, 0, 0], smooth(0.55, 1, d / R) * 0.7);
    } else {
      c = mix(c, hex('#3a4a7a'), 0.25 * (1 - smooth(R, R * 1.25, d)));
    }
    for (const [mx, mr] of [[0.64, 0.011], [0.72, 0.009], [0.84, 0.012]]) {
      const md = Math.hypot(x - w * mx, y - cy * 1.01);
      if (md < h * mr) c = mix(hex('#f2efe6'), hex('#9aa3b5'), md / (h * mr));
    }
    return c;
  });
}

// A rainy street at night: neon, reflections, rain. hue: 0-1.
export function neon(hue = 0, w = 900, h = 600) {
  const pal = [['#ff3d7f', '#2de2e6'], ['#f6c90e', '#7b2ff7'], ['#00d68f', '#ff6b35']][Math.floor(hue * 3) % 3];
  return png(w, h, (x, y) => {
    let c = ramp([[0, '#0b0820'], [0.6, '#1b1147'], [1, '#07060f']], y / h);
    const signs = [[0.2, 0.25, pal[0]], [0.7, 0.35, pal[1]], [0.45, 0.15, pal[1]]];
    for (const [sx, sy, col] of signs) {
      const dx = Math.abs(x / w - sx);
      const dy = Math.abs(y / h - sy);
      const glow = Math.max(0, 1 - Math.hypot(dx * 4, dy * 3));
      c = mix(c, hex(col), glow * glow * 0.8);
      if (dx < 0.012 && dy < 0.09) c = mix(hex(col), [255, 255, 255], 0.4);
    }
    if (y > h * 0.7) { // wet street: the signs again, smeared
      const ry = h * 1.4 - y;
      for (const [sx, sy, col] of signs) {
        const dx = Math.abs(x / w - sx);
        const dy = Math.abs(ry / h - sy);
        c = mix(c, hex(col), 0.35 * smooth(0.7, 0.8, y / h) * Math.max(0, 1 - dx * 10) * Math.max(0, 1 - dy * 2));
      }
    }
    const k = x + y * 0.25;
    if (hash(Math.floor(k / 3), Math.floor(y / 40), 7) > 0.985) c = mix(c, [200, 220, 255], 0.35);
    return c;
  });
}

// Colour swatches under a ring of light: a designer's palette. n: which one.
export function palette(n = 0, w = 800, h = 800) {
  const sets = [['#264653', '#2a9d8f', '#e9c46a', '#f4a261', '#e76f51'], ['#3d405b', '#81b29a', '#f2cc8f', '#e07a5f', '#f4f1de'],
    ['#355070', '#6d597a', '#b56576', '#e56b6f', '#eaac8b']];
  const cols = sets[n % sets.length];
  return png(w, h, (x, y) => {
    const col = cols[Math.min(cols.length - 1, Math.floor((x / w) * cols.length))];
    let c = hex(col);
    const cx = w / 2;
    const cy = h / 2;
    const ring = Math.abs(Math.hypot(x - cx, y - cy) - h * 0.28);
    if (ring < h * 0.05) c = mix(hex('#fdfcf7'), c, ring / (h * 0.05));
    if (y > h * 0.86) c = mix(c, [255, 255, 255], 0.85);
    return c;
  });
}

// An avatar: a soft gradient disc with a shape. n picks colours and shape.
export function avatarImage(n = 0, size = 400) {
  const sets = [['#ff9a8b', '#ff6a88', '#ffe3b3'], ['#8ec5fc', '#6f86d6', '#e0c3fc'], ['#84fab0', '#3fb98f', '#f6fff0'],
    ['#fccb90', '#d57eeb', '#fff1e0'], ['#a1c4fd', '#3b5bdb', '#e3f2ff'], ['#f6d365', '#fd8c5c', '#fffbe6']];
  const [a, b, fg] = sets[n % sets.length];
  return png(size, size, (x, y) => {
    const u = x / size - 0.5;
    const v = y / size - 0.5;
    let c = mix(hex(a), hex(b), 0.5 + (u + v) * 0.7);
    const shape = n % 3;
    let inside;
    if (shape === 0) inside = Math.hypot(u, v + 0.05) < 0.18 || (Math.hypot(u, v - 0.42) < 0.3 && v > 0.15);
    else if (shape === 1) inside = Math.abs(u) + Math.abs(v) < 0.22;
    else inside = Math.abs(Math.hypot(u, v) - 0.2) < 0.05;
    if (inside) c = mix(hex(fg), c, 0.15 + Math.hypot(u, v));
    return c;
  });
}

// A wide header: hills in layers under a sky. n picks colours.
export function headerImage(n = 0, w = 1500, h = 500) {
  const sets = [['#ffecd2', '#fcb69f', '#d4776b', '#8c4a5f', '#4b2e4d'], ['#e0f7fa', '#a7c5eb', '#6c8dbd', '#46618f', '#2b3a5c']];
  const [sky0, sky1, l1, l2, l3] = sets[n % 2];
  return png(w, h, (x, y) => {
    let c = mix(hex(sky0), hex(sky1), y / h);
    const layers = [[0.55, 0.08, 3.1, l1], [0.7, 0.07, 5.3, l2], [0.84, 0.05, 8.7, l3]];
    for (const [base, amp, f, col] of layers) {
      const top = h * (base - amp * Math.sin((x / w) * f + base * 10));
      if (y > top) c = hex(col);
    }
    return c;
  });
}
