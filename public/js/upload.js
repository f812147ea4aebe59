/*
 * Uploading an image (POST /api/media, docs/API.md): what the page
 * refuses before sending (a file over 8 MB, one that does not even claim
 * to be an image), the upload with its progress, what each refusal of
 * the server means to the person who chose the file, and a preview drawn
 * from the file itself (a small data: URL: the CSP allows no blob: image).
 * A page sends two uploads at a time, the others wait their turn; a
 * server busy with others' uploads (503 busy) is asked again after the
 * Retry-After it gives, up to three times.
 */
import { upload } from './api.js';

export const ACCEPT = 'image/jpeg,image/png,image/webp,image/gif';
export const FILE_MAX = 8 * 1024 * 1024;
const PREVIEW_PX = 160;

const TYPES = 'a JPEG, PNG, WebP or GIF image';

// Why file cannot be sent ('' when it can). The server decides the type
// from the bytes (a file named .png may be anything); a file that says
// it is of another type is not sent.
export function refusal(file) {
  if (file.size > FILE_MAX) return `${file.name} is too large: an image can be at most 8 MB.`;
  if (file.size === 0) return `${file.name} is empty.`;
  if (file.type && !ACCEPT.split(',').includes(file.type)) return `${file.name} is not ${TYPES}.`;
  return '';
}

// What a refused upload r of the file name means.
export function uploadError(r, name) {
  const e = (r.data && r.data.error) || {};
  switch (e.code) {
    case 'file_too_large':
    case 'body_too_large': return `${name} is too large: an image can be at most 8 MB.`;
    case 'unsupported_type': return `${name} is not ${TYPES}.`;
    case 'invalid_image': return `${name} could not be read as an image: it may be damaged.`;
    case 'too_many_pixels': return `${name} has too many pixels: at most 50 megapixels, 16,383 on a side.`;
    case 'quota_exceeded': return `No room for ${name}: your images use all the space your account has. Deleting posts with images frees some.`;
    case 'busy': return 'The server is busy with other uploads: try again in a moment.';
    case 'aborted': return 'Upload cancelled.';
    default: return e.message ? `${name}: ${e.message}` : `${name} could not be uploaded (HTTP ${r.status}).`;
  }
}

const PARALLEL = 2;
const RETRIES = 3;
let running = 0;
const waiting = []; // uploads waiting their turn: functions that start one

function nextUpload() {
  while (running < PARALLEL && waiting.length) {
    running++;
    waiting.shift()().finally(() => {
      running--;
      nextUpload();
    });
  }
}

const pause = (s) => new Promise((resolve) => { setTimeout(resolve, Math.min(10, Math.max(1, s)) * 1000); });

// Uploads file in its turn; onProgress(fraction) as it goes. {done: a
// promise of {media} (the API's upload) or {error} (a sentence), abort()}.
export function uploadImage(file, onProgress) {
  let current = null;
  let cancelled = false;
  const done = new Promise((resolve) => {
    waiting.push(async () => {
      for (let attempt = 0; !cancelled; attempt++) {
        const form = new FormData();
        form.append('file', file, file.name);
        current = upload('/api/media', form, onProgress);
        const r = await current.done;
        const busy = r.status === 503 && r.data && r.data.error && r.data.error.code === 'busy';
        if (busy && attempt < RETRIES && !cancelled) {
          await pause(r.retryAfter);
          continue;
        }
        resolve(r.status === 201 && r.data && r.data.id ? { media: r.data } : { error: uploadError(r, file.name) });
        return;
      }
      resolve({ error: 'Upload cancelled.' });
    });
    nextUpload();
  });
  return { done, abort: () => { cancelled = true; if (current) current.abort(); } };
}

// A small picture of file (a data: URL), or '' when the browser cannot
// decode it (the server may still: it decides).
export async function previewOf(file) {
  try {
    const bmp = await createImageBitmap(file);
    const k = Math.min(1, PREVIEW_PX / Math.max(bmp.width, bmp.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bmp.width * k));
    canvas.height = Math.max(1, Math.round(bmp.height * k));
    canvas.getContext('2d').drawImage(bmp, 0, 0, canvas.width, canvas.height);
    bmp.close();
    return canvas.toDataURL('image/webp', 0.85);
  } catch (e) {
    return '';
  }
}
