// Any address the app does not know.

import { fill, h, heading } from '../dom.js';

export const notFoundPage = {
  public: true,
  async render({ main }) {
    fill(
      main,
      h('div', { class: 'column' }, heading('Page not found'), h('p', {}, 'There’s nothing at this address. ', h('a', { href: '#/' }, 'Go home'), '.')),
    );
  },
};
