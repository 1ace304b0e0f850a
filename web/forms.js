// Form parts every page uses: a labelled field (with an optional hint), a status line for the
// form's own messages, and a busy state while a request is on its way.

import { h } from './dom.js';

let counter = 0;

/**
 * A labelled control. name: the request field it fills (also matched against the field names of
 * errors, with errorNames); label: what a person reads; errorLabel: how messages name it
 * ("Your comment must be…"), the label by default; control: 'input' (default) or 'textarea';
 * the rest are the control's attributes (type, autocomplete, required, …).
 */
export function field({ name, label, errorLabel, hint, control = 'input', errorNames = [], ...attributes }) {
  const id = `f-${name}-${++counter}`;
  const hintId = hint ? `${id}-hint` : null;
  const input = h(control, {
    id,
    name,
    'data-field': [name, ...errorNames].join(' '),
    'data-label': errorLabel || label,
    'data-hint': hintId,
    'aria-describedby': hintId,
    ...attributes,
  });
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    input,
  );
}

/** Where a form says what happened to it ("Please fix…", "Saved."); read out when it changes. */
export function formStatus() {
  return h('p', { class: 'form-status', role: 'status', tabindex: '-1' });
}

/** Disable the form's submit button while `work` runs; the button says what is happening. */
export async function busy(form, label, work) {
  const button = form.querySelector('button[type=submit]');
  const idle = button?.textContent;
  if (button) {
    button.disabled = true;
    button.textContent = label;
  }
  form.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    form.removeAttribute('aria-busy');
    if (button) {
      button.disabled = false;
      button.textContent = idle;
    }
  }
}
