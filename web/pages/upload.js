// Post a photo, or an album of up to 10: pick or drop them, see them, describe each for screen
// readers (alt text), give the post a title, caption, place and tags, and watch the bytes go (the
// progress bar follows the browser's real upload events). One image goes up in one call; an album
// uploads each image, then makes the post from them. Then off to your profile, where it shows at once.

import * as api from '../api.js';
import { fill, h, heading } from '../dom.js';
import { clearErrors, fieldError, showErrors } from '../errors.js';
import { busy, field, formStatus } from '../forms.js';
import { go } from '../router.js';
import * as session from '../session.js';

const ACCEPTED = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];
const MAX_IMAGES = 10;

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
    let chosen = [];
    let previewUrls = [];
    const release = () => previewUrls.forEach((url) => URL.revokeObjectURL(url));
    signal.addEventListener('abort', release);

    const previews = h('div', { class: 'previews' });
    const fileField = field({
      name: 'file',
      label: 'Photos',
      hint: `JPEG, PNG, WebP or GIF; up to ${MAX_IMAGES} make an album. Choose files, or drop them here.`,
      type: 'file',
      accept: ACCEPTED.join(','),
      multiple: true,
      errorNames: ['chunk', 'content', 'images'],
      required: true,
    });
    const drop = h('div', { class: 'drop' }, fileField, previews);
    const progress = h('progress', { max: '100', value: '0', 'aria-label': 'Upload progress', hidden: true });
    const form = h(
      'form',
      { class: 'card form', novalidate: true },
      drop,
      field({ name: 'title', label: 'Title' }),
      field({
        name: 'caption',
        label: 'Caption',
        control: 'textarea',
        maxlength: '2200',
        hint: '#hashtags become tags; @mentions notify people',
      }),
      field({ name: 'location', label: 'Location', autocomplete: 'off' }),
      field({ name: 'tags', label: 'Tags', hint: 'Separate with spaces or commas, e.g. sunset beach' }),
      progress,
      formStatus(),
      h('button', { type: 'submit', class: 'button' }, 'Share'),
    );
    const fileInput = form.elements.file;

    // Each chosen image: a preview and its alt-text box (named so errors about it land next to it).
    const choose = (files) => {
      clearErrors(form);
      chosen = [];
      release();
      previewUrls = [];
      previews.replaceChildren();
      if (!files.length) return;
      if (files.length > MAX_IMAGES) {
        fieldError(fileInput, `An album has at most ${MAX_IMAGES} photos.`);
        return;
      }
      if (files.some((file) => !ACCEPTED.includes(file.type))) {
        fieldError(fileInput, 'Photos must be JPEG, PNG, WebP or GIF images.');
        return;
      }
      chosen = files;
      files.forEach((file, index) => {
        const url = URL.createObjectURL(file);
        previewUrls.push(url);
        const preview = h('img', { class: 'preview', alt: `Preview of ${file.name}`, width: 1, height: 1 });
        preview.onload = () => {
          preview.width = preview.naturalWidth;
          preview.height = preview.naturalHeight;
        };
        preview.src = url;
        previews.append(
          h(
            'div',
            { class: 'preview-item' },
            preview,
            field({
              name: `altText${index}`,
              label: files.length > 1 ? `Alt text for photo ${index + 1}` : 'Alt text',
              hint: 'What the photo shows, for people who cannot see it',
              control: 'textarea',
              maxlength: '1500',
              errorNames: files.length > 1 ? [`images[${index}].alt_text`] : ['alt_text'],
            }),
          ),
        );
      });
    };
    fileInput.addEventListener('change', () => choose([...fileInput.files]));
    drop.addEventListener('dragover', (event) => {
      event.preventDefault();
      drop.classList.add('dragging');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
    drop.addEventListener('drop', (event) => {
      event.preventDefault();
      drop.classList.remove('dragging');
      choose([...event.dataTransfer.files]);
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!chosen.length) {
        fieldError(fileInput, 'Choose a photo to share.');
        fileInput.focus();
        return;
      }
      const me = session.me();
      const altText = (index) => form.elements[`altText${index}`].value.trim();
      const metadata = {
        userId: me.userId,
        title: form.elements.title.value.trim(),
        caption: form.elements.caption.value.trim(),
        location: form.elements.location.value.trim(),
        tags: parseTags(form.elements.tags.value),
        timeStamp: new Date().toISOString(),
        idempotencyKey: randomKey(), // a retried request cannot post the photo twice
      };

      progress.hidden = false;
      progress.value = 0;
      await busy(form, 'Uploading…', async () => {
        try {
          if (chosen.length === 1) await uploadOne(metadata, chosen[0], altText(0), progress, signal);
          else await uploadAlbum(metadata, chosen, altText, progress, signal);
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

async function uploadOne(metadata, file, altText, progress, signal) {
  const body = new FormData();
  // Metadata first, the file last: the gateway streams the file into the service as it comes.
  for (const [name, value] of Object.entries(metadata)) {
    for (const item of Array.isArray(value) ? value : [value]) body.append(name, item);
  }
  body.append('altText', altText);
  body.append('file', file, file.name);
  await api.uploadPhoto(body, (fraction) => {
    progress.value = Math.round(fraction * 100);
  }, signal);
}

/** Each image up (idempotent by its own key), then the post from their ids: it appears whole or not at all. */
async function uploadAlbum(metadata, files, altText, progress, signal) {
  const mediaIds = [];
  for (const [index, file] of files.entries()) {
    const body = new FormData();
    body.append('idempotencyKey', `${metadata.idempotencyKey}-${index}`);
    body.append('file', file, file.name);
    const uploaded = await api.uploadMedia(body, (fraction) => {
      progress.value = Math.round(((index + fraction) / (files.length + 1)) * 100);
    }, signal);
    mediaIds.push(uploaded.media.mediaId);
  }
  await api.createPost(
    metadata,
    mediaIds.map((mediaId, index) => ({ mediaId, altText: altText(index) })),
  );
  progress.value = 100;
}
