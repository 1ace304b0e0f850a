// Edit your own post: its title, caption, place, tags and each photo's alt text (never the pixels).
// Saved as one PATCH; the post's page shows the edit at once.

import * as api from '../api.js';
import { fill, h, heading } from '../dom.js';
import { describe, showErrors } from '../errors.js';
import { busy, field, formStatus } from '../forms.js';
import { photoImage } from '../images.js';
import { tagsBesideCaption } from '../post.js';
import { go } from '../router.js';
import * as session from '../session.js';
import { parseTags } from './upload.js';

export const editPage = {
  async render({ main, params, signal }) {
    let photo;
    try {
      photo = await api.getPhoto(params.id, signal);
    } catch (error) {
      if (![400, 403, 404].includes(error.status)) throw error; // the router offers "Try again"
      fill(main, h('div', { class: 'narrow' }, heading('Photo not available'), h('p', {}, describe(error))));
      return;
    }
    if (photo.userId !== session.me()?.userId) {
      // The service would refuse the save (PERMISSION_DENIED); say so before anyone fills the form in.
      const back = h('a', { href: `#/p/${photo.photoId}` }, 'Back to the post');
      fill(main, h('div', { class: 'narrow' }, heading('Edit post'), h('p', {}, 'Only the person who posted it can edit a post. ', back)));
      return;
    }
    const images = photo.images?.length ? photo.images : [{ mediaId: photo.photoId }];
    const form = h(
      'form',
      { class: 'card form', novalidate: true },
      field({ name: 'title', label: 'Title' }),
      field({ name: 'caption', label: 'Caption', control: 'textarea', maxlength: '2200', hint: '#hashtags become tags; @mentions notify people' }),
      field({ name: 'location', label: 'Location', autocomplete: 'off' }),
      field({ name: 'tags', label: 'Tags', hint: "Separate with spaces or commas; the caption's #hashtags are added" }),
      // Each alt text beside the image it describes (decorative here: the field says which photo it is).
      images.map((image, index) =>
        h(
          'div',
          { class: 'alt-edit' },
          photoImage({
            photoId: photo.photoId,
            mediaId: image.mediaId,
            variant: api.VARIANT.thumbnail,
            width: image.width,
            height: image.height,
            alt: '',
            color: image.dominantColor,
            eager: true,
          }),
          field({
            name: `altText${index}`,
            label: images.length > 1 ? `Alt text for photo ${index + 1}` : 'Alt text',
            control: 'textarea',
            maxlength: '1500',
            errorNames: [`alt_texts[${index}].alt_text`],
          }),
        ),
      ),
      formStatus(),
      h(
        'div',
        { class: 'form-actions' },
        h('button', { type: 'submit', class: 'button' }, 'Save'),
        h('a', { href: `#/p/${photo.photoId}`, class: 'button secondary' }, 'Cancel'),
      ),
    );
    form.elements.title.value = photo.title || '';
    form.elements.caption.value = photo.caption || '';
    form.elements.location.value = photo.location || '';
    // The caption's #hashtags are tags the service adds from the caption: listing them here too would keep
    // a hashtag deleted from the caption as a tag.
    form.elements.tags.value = tagsBesideCaption(photo).join(' ');
    images.forEach((image, index) => {
      form.elements[`altText${index}`].value = image.altText || '';
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      await busy(form, 'Saving…', async () => {
        try {
          await api.updatePhoto(photo.photoId, {
            title: form.elements.title.value.trim(),
            caption: form.elements.caption.value.trim(),
            location: form.elements.location.value.trim(),
            tags: parseTags(form.elements.tags.value),
            altTexts: images.map((image, index) => ({ mediaId: image.mediaId, altText: form.elements[`altText${index}`].value.trim() })),
          });
          go(`#/p/${photo.photoId}`);
        } catch (error) {
          showErrors(form, error);
        }
      });
    });
    fill(main, h('div', { class: 'narrow' }, heading('Edit post'), form));
  },
};
