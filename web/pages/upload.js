// Post a photo: pick or drop it, see it, give it a title, place and tags, and watch the bytes
// go (the progress bar follows the browser's real upload events). Then off to your profile,
// where it shows at once.

import * as api from '../api.js';
import { fill, h, heading } from '../dom.js';
import { clearErrors, fieldError, showErrors } from '../errors.js';
import { busy, field, formStatus } from '../forms.js';
import { go } from '../router.js';
import * as session from '../session.js';

const ACCEPTED = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];

/** '#sea, sun  beach' → ['sea', 'sun', 'beach']. */
export function parseTags(text) {
  const tags = text.split(/[\s,]+/).map((tag) => tag.replace(/^#+/, '')).filter(Boolean);
  return [...new Set(tags)];
}

/** 128 random bits as hex (crypto.randomUUID needs https, and Shutter may be served without it). */
function randomKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export const uploadPage = {
  async render({ main, signal }) {
    let chosen = null;
    let previewUrl = null;
    signal.addEventListener('abort', () => previewUrl && URL.revokeObjectURL(previewUrl));

    const preview = h('img', { class: 'preview', alt: '', hidden: true, width: 1, height: 1 });
    const fileField = field({
      name: 'file',
      label: 'Photo',
      hint: 'JPEG, PNG, WebP or GIF. Choose a file, or drop one here.',
      type: 'file',
      accept: ACCEPTED.join(','),
      errorNames: ['chunk', 'content'],
      required: true,
    });
    const drop = h('div', { class: 'drop' }, fileField, preview);
    const progress = h('progress', { max: '100', value: '0', 'aria-label': 'Upload progress', hidden: true });
    const form = h(
      'form',
      { class: 'card form', novalidate: true },
      drop,
      field({ name: 'title', label: 'Title', hint: 'Also the photo’s description for screen readers' }),
      field({ name: 'location', label: 'Location', autocomplete: 'off' }),
      field({ name: 'tags', label: 'Tags', hint: 'Separate with spaces or commas, e.g. sunset beach' }),
      progress,
      formStatus(),
      h('button', { type: 'submit', class: 'button' }, 'Share'),
    );
    const fileInput = form.elements.file;

    const choose = (file) => {
      clearErrors(form);
      chosen = null;
      preview.hidden = true;
      if (!file) return;
      if (!ACCEPTED.includes(file.type)) {
        fieldError(fileInput, 'Photo must be a JPEG, PNG, WebP or GIF image.');
        return;
      }
      chosen = file;
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = URL.createObjectURL(file);
      preview.alt = `Preview of ${file.name}`;
      preview.onload = () => {
        preview.width = preview.naturalWidth;
        preview.height = preview.naturalHeight;
        preview.hidden = false;
      };
      preview.src = previewUrl;
    };
    fileInput.addEventListener('change', () => choose(fileInput.files[0]));
    drop.addEventListener('dragover', (event) => {
      event.preventDefault();
      drop.classList.add('dragging');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
    drop.addEventListener('drop', (event) => {
      event.preventDefault();
      drop.classList.remove('dragging');
      choose(event.dataTransfer.files[0]);
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!chosen) {
        fieldError(fileInput, 'Choose a photo to share.');
        fileInput.focus();
        return;
      }
      const me = session.me();
      const body = new FormData();
      // Metadata first, the file last: the gateway streams the file into the service as it comes.
      body.append('userId', me.userId);
      body.append('title', form.elements.title.value.trim());
      body.append('location', form.elements.location.value.trim());
      for (const tag of parseTags(form.elements.tags.value)) body.append('tags', tag);
      body.append('timeStamp', new Date().toISOString());
      body.append('idempotencyKey', randomKey()); // a retried request cannot post the photo twice
      body.append('file', chosen, chosen.name);

      progress.hidden = false;
      progress.value = 0;
      await busy(form, 'Uploading…', async () => {
        try {
          await api.uploadPhoto(body, (fraction) => {
            progress.value = Math.round(fraction * 100);
          }, signal);
          go(`#/u/${encodeURIComponent(me.username)}`);
        } catch (error) {
          if (error.name === 'AbortError') return;
          progress.hidden = true;
          showErrors(form, error, error.status === 413 ? [{ field: 'file', message: 'That photo is too large to upload.' }] : []);
        }
      });
    });

    fill(main, h('div', { class: 'narrow' }, heading('New post'), form));
  },
};
