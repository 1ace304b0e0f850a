// Search photos by tag, words or place (results as a grid), or people by the start of their name.

import * as api from '../api.js';
import { fill, h, heading } from '../dom.js';
import { clearErrors, showErrors } from '../errors.js';
import { field, formStatus } from '../forms.js';
import { grid, gridItem, paged, userLink } from '../parts.js';
import { go } from '../router.js';

const KINDS = [
  ['tag', 'Tag', 'e.g. sunset'],
  ['text', 'Words', 'words in the title or tags'],
  ['location', 'Place', 'e.g. Lisbon'],
];

function searchForm(query) {
  const current = KINDS.find(([kind]) => query.get(kind)) || KINDS[0];
  const form = h(
    'form',
    { class: 'card form search-form', role: 'search', novalidate: true },
    h(
      'fieldset',
      { class: 'kinds' },
      h('legend', {}, 'Search photos by'),
      KINDS.map(([kind, label]) =>
        h(
          'label',
          { class: 'kind' },
          h('input', { type: 'radio', name: 'kind', value: kind, checked: kind === current[0] }),
          label,
        ),
      ),
    ),
    h(
      'div',
      { class: 'search-row' },
      field({
        name: 'q',
        label: 'Search for',
        errorLabel: 'Your search',
        type: 'search',
        value: query.get(current[0]) || '',
        errorNames: KINDS.map(([kind]) => kind),
        placeholder: current[2],
      }),
      h('button', { type: 'submit', class: 'button' }, 'Search'),
    ),
    formStatus(),
  );
  form.addEventListener('change', () => {
    const kind = KINDS.find(([k]) => k === form.elements.kind.value);
    form.elements.q.placeholder = kind[2];
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const words = form.elements.q.value.trim().replace(/^#/, '');
    clearErrors(form);
    if (!words) return showErrors(form, null, [{ field: 'q', message: 'Type what to look for.' }]);
    go(`#/search?${form.elements.kind.value}=${encodeURIComponent(words)}`);
  });
  return form;
}

function personForm(query) {
  const form = h(
    'form',
    { class: 'card form', novalidate: true },
    h(
      'div',
      { class: 'search-row' },
      field({
        name: 'people',
        label: 'Find people',
        errorLabel: 'Your search',
        hint: 'The start of a username or name',
        autocapitalize: 'none',
        value: query.get('people') || '',
        errorNames: ['query'],
      }),
      h('button', { type: 'submit', class: 'button secondary' }, 'Find'),
    ),
    formStatus(),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const words = form.elements.people.value.trim();
    clearErrors(form);
    if (!words) return showErrors(form, null, [{ field: 'people', message: 'Type the start of a name.' }]);
    go(`#/search?people=${encodeURIComponent(words)}`);
  });
  return form;
}

/** People whose username or name starts with the query, a page at a time. */
async function peopleResults(form, words, signal) {
  const list = h('ul', { class: 'people' });
  try {
    const pager = await paged({
      list,
      signal,
      moreLabel: 'More people',
      load: async (token) => {
        const page = await api.searchUsers(words, token, signal);
        return { nodes: (page.users || []).map((user) => h('li', {}, userLink(user))), next: page.nextPageToken };
      },
    });
    return h(
      'section',
      { class: 'results', 'aria-labelledby': 'people-title' },
      h('h2', { id: 'people-title' }, `People matching “${words}”`),
      list.childElementCount ? [list, pager] : h('p', { class: 'empty' }, 'No one’s name starts like that.'),
    );
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    showErrors(form, error);
    return null;
  }
}

export const searchPage = {
  async render({ main, query, signal }) {
    const criteria = Object.fromEntries(KINDS.map(([kind]) => [kind, query.get(kind) || '']).filter(([, v]) => v));
    const form = searchForm(query);
    const results = h('section', { class: 'results' });
    if (Object.keys(criteria).length) {
      const list = grid('Search results');
      try {
        const pager = await paged({
          list,
          signal,
          moreLabel: 'More results',
          load: async (token) => {
            const page = await api.searchPhotos(criteria, token, signal);
            return { nodes: (page.hits || []).map(gridItem), next: page.nextPageToken };
          },
        });
        const said = Object.values(criteria).join(', ');
        results.setAttribute('aria-labelledby', 'results-title');
        fill(
          results,
          h('h2', { id: 'results-title' }, `Photos matching “${said}”`),
          list.childElementCount ? [list, pager] : h('p', { class: 'empty' }, 'No photos match that yet.'),
        );
      } catch (error) {
        if (error.name === 'AbortError') throw error;
        showErrors(form, error);
      }
    }
    const people = personForm(query);
    const found = query.get('people') ? await peopleResults(people, query.get('people'), signal) : null;
    fill(main, h('div', { class: 'wide' }, heading('Search'), form, results, people, found));
  },
};
