// Package e2e holds StreamSync's browser end-to-end tests: Debian's
// chromium, driven through chromedp from `go test`, and Debian's
// firefox-esr, driven over WebDriver BiDi (internal/firefoxtest), join
// calls on the real appliance binary (internal/apptest) with fake camera
// and microphone, and the tests assert through getStats and the DOM.
// There is no non-test code.
package e2e
