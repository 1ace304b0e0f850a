// Failures in plain words. Forms put each field violation next to the control it names (the
// services name fields like `text`, `display_name` or `metadata.title`), mark the control invalid
// and move focus to the first one; anything else is said once, in the form's status line.

import { h } from './dom.js';

/** What went wrong, as a sentence a person can act on. */
export function describe(error) {
  if (error?.name === 'AbortError') return '';
  switch (error?.status) {
    case 0:
    case 503:
      return 'Shutter can’t be reached right now. Check your connection and try again.';
    case 401:
      return 'Your session has ended. Please sign in again.';
    case 403:
      return 'You’re not allowed to do that.';
    case 404:
      return 'We couldn’t find that. It may have been deleted.';
    case 413:
      return 'That file is too large.';
    case 429:
      return tryAgainIn(error.retryAfter);
    case 504:
      return 'That took too long. Please try again.';
    case 400:
    case 409:
      return error.violations?.length ? 'Please fix the fields marked above.' : sentence(error.message);
    default:
      return 'Something went wrong on our side. Please try again.';
  }
}

export function tryAgainIn(seconds) {
  if (seconds === null || seconds === undefined) return 'Too many requests. Please wait a moment and try again.';
  return `Too many requests. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`;
}

function sentence(text) {
  const clean = String(text || 'That didn’t work.').trim();
  return clean.charAt(0).toUpperCase() + clean.slice(1) + (/[.!?]$/.test(clean) ? '' : '.');
}

/** The form control a violation's field names: `metadata.tags[2]` → the control with data-field="tags". */
function controlFor(form, field) {
  const names = [field, field.replace(/^metadata\./, ''), field.replace(/\[\d+\]$/, ''), field.split('.').pop()];
  for (const name of names) {
    const base = name.replace(/\[\d+\]$/, '');
    const control = form.querySelector(`[data-field~="${CSS.escape(base)}"]`);
    if (control) return control;
  }
  return null;
}

/** Forget the messages of an earlier try. */
export function clearErrors(form) {
  for (const message of form.querySelectorAll('.field-error')) message.remove();
  for (const control of form.querySelectorAll('[aria-invalid]')) {
    control.removeAttribute('aria-invalid');
    control.setAttribute('aria-describedby', control.dataset.hint || '');
    if (!control.dataset.hint) control.removeAttribute('aria-describedby');
  }
  const status = form.querySelector('.form-status');
  if (status) status.textContent = '';
}

/**
 * Show an ApiError on a form: per field where it can, else in the form's status line.
 * extra: the page's own findings, {field, message} (a whole sentence) — e.g. "That username is taken."
 */
export function showErrors(form, error, extra = []) {
  clearErrors(form);
  const unplaced = [];
  let first = null;
  const said = (control, description) => `${control.dataset.label || 'This'} ${description}.`.replace(/\.\.$/, '.');
  for (const { field, description, message } of [...extra, ...(error?.violations || [])]) {
    const control = controlFor(form, field);
    if (!control) {
      unplaced.push(message || `${field}: ${description}.`);
      continue;
    }
    fieldError(control, message || said(control, description));
    first ??= control;
  }
  const status = form.querySelector('.form-status');
  const placed = form.querySelectorAll('[aria-invalid]').length;
  const summary = placed && !unplaced.length ? `Please fix the field${placed > 1 ? 's' : ''} marked above.` : describe(error);
  if (status) status.textContent = [summary, ...unplaced].filter(Boolean).join(' ');
  (first || status)?.focus?.();
}

/** One message under one control, read out with it (aria-describedby). */
export function fieldError(control, text) {
  const id = `${control.id}-error`;
  document.getElementById(id)?.remove();
  const message = h('p', { class: 'field-error', id }, text);
  (control.closest('.field') || control.parentElement).append(message);
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-describedby', [control.dataset.hint, id].filter(Boolean).join(' '));
}

/** A message for the whole form, in its status line (read out, and focused). */
export function showMessage(form, text) {
  clearErrors(form);
  const status = form.querySelector('.form-status');
  status.textContent = text;
  status.focus();
}
