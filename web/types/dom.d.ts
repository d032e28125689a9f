// Browser APIs the page uses where present that TypeScript's DOM library
// does not declare (read by make jscheck only; never served).

interface Navigator {
  /** The Network Information API (Chromium): fires 'change' when the network changes. */
  readonly connection?: EventTarget;
}

interface HTMLElement {
  /** Safari's prefixed requestFullscreen (iPadOS, older macOS). */
  webkitRequestFullscreen?: () => void;
}
