// The pages' elements by id (index.html, check.html), so that the modules'
// $(id) look-ups are typed: $('name').value is an input's value, and
// $('name').vlaue is an error. An id missing here is a plain HTMLElement.
// Read by make jscheck only; never served. Keep in step with the HTML.

/** The elements of index.html by id, for app.js's $ (id). */
interface AppElements {
  landing: HTMLElement;
  name: HTMLInputElement;
  'new-meeting': HTMLButtonElement;
  'join-form': HTMLFormElement;
  'join-code': HTMLInputElement;
  'landing-error': HTMLParagraphElement;
  problem: HTMLElement;
  'problem-title': HTMLSpanElement;
  'problem-text': HTMLParagraphElement;
  'problem-new': HTMLButtonElement;
  prejoin: HTMLElement;
  'prejoin-title': HTMLHeadingElement;
  'prejoin-count': HTMLParagraphElement;
  preview: HTMLVideoElement;
  'preview-off': HTMLParagraphElement;
  'pre-mic-toggle': HTMLButtonElement;
  'pre-cam-toggle': HTMLButtonElement;
  'mic-level': HTMLMeterElement;
  'media-warning': HTMLParagraphElement;
  'pre-camera': HTMLSelectElement;
  'pre-mic': HTMLSelectElement;
  'pre-name': HTMLInputElement;
  'pre-password-row': HTMLLabelElement;
  'pre-password': HTMLInputElement;
  'pre-relay': HTMLInputElement;
  'join-button': HTMLButtonElement;
  'join-error': HTMLParagraphElement;
  call: HTMLDivElement;
  'conn-status': HTMLSpanElement;
  count: HTMLSpanElement;
  'recording-indicator': HTMLSpanElement;
  'net-verdict': HTMLSpanElement;
  'copy-link': HTMLButtonElement;
  'call-notice': HTMLParagraphElement;
  toasts: HTMLOListElement;
  grid: HTMLElement;
  alone: HTMLDivElement;
  'alone-copy': HTMLButtonElement;
  strip: HTMLDivElement;
  panel: HTMLElement;
  'tab-people': HTMLButtonElement;
  'tab-chat': HTMLButtonElement;
  unread: HTMLSpanElement;
  'tab-files': HTMLButtonElement;
  'panel-close': HTMLButtonElement;
  'people-pane': HTMLDivElement;
  people: HTMLUListElement;
  'net-verdict-long': HTMLParagraphElement;
  'net-results': HTMLUListElement;
  'chat-pane': HTMLDivElement;
  'chat-log': HTMLOListElement;
  'chat-form': HTMLFormElement;
  'chat-input': HTMLInputElement;
  'files-pane': HTMLDivElement;
  'file-form': HTMLFormElement;
  'file-to': HTMLSelectElement;
  'file-input': HTMLInputElement;
  transfers: HTMLUListElement;
  'btn-mic': HTMLButtonElement;
  'btn-cam': HTMLButtonElement;
  'btn-share': HTMLButtonElement;
  'more-menu': HTMLDivElement;
  'btn-record': HTMLButtonElement;
  'btn-files': HTMLButtonElement;
  'btn-settings': HTMLButtonElement;
  'btn-people': HTMLButtonElement;
  'people-count': HTMLSpanElement;
  'btn-chat': HTMLButtonElement;
  unread2: HTMLSpanElement;
  'btn-more': HTMLButtonElement;
  'btn-leave': HTMLButtonElement;
  settings: HTMLDialogElement;
  'settings-title': HTMLHeadingElement;
  'set-camera': HTMLSelectElement;
  'set-mic': HTMLSelectElement;
  'set-speaker': HTMLSelectElement;
  'set-name': HTMLInputElement;
  'set-relay': HTMLInputElement;
  'set-sounds': HTMLInputElement;
  ended: HTMLElement;
  'ended-reason': HTMLParagraphElement;
  rejoin: HTMLButtonElement;
  'tile-template': HTMLTemplateElement;
}

/** The elements of check.html by id, for check.js's $ (id). */
interface CheckElements {
  'pw-row': HTMLLabelElement;
  pw: HTMLInputElement;
  run: HTMLButtonElement;
  verdict: HTMLParagraphElement;
  results: HTMLUListElement;
  error: HTMLParagraphElement;
}

/** app.js's $: document.getElementById, typed by AppElements. */
interface AppLookup {
  <K extends keyof AppElements>(id: K): AppElements[K];
  (id: string): HTMLElement;
}

/** check.js's $: document.getElementById, typed by CheckElements. */
interface CheckLookup {
  <K extends keyof CheckElements>(id: K): CheckElements[K];
  (id: string): HTMLElement;
}
