package web

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// elementTags is which tags each DOM interface named in types/pages.d.ts
// stands for; HTMLElement stands for any.
var elementTags = map[string][]string{
	"HTMLButtonElement":    {"button"},
	"HTMLDialogElement":    {"dialog"},
	"HTMLDivElement":       {"div"},
	"HTMLFormElement":      {"form"},
	"HTMLHeadingElement":   {"h1", "h2", "h3", "h4", "h5", "h6"},
	"HTMLInputElement":     {"input"},
	"HTMLLabelElement":     {"label"},
	"HTMLMeterElement":     {"meter"},
	"HTMLOListElement":     {"ol"},
	"HTMLUListElement":     {"ul"},
	"HTMLParagraphElement": {"p"},
	"HTMLSelectElement":    {"select"},
	"HTMLSpanElement":      {"span"},
	"HTMLTemplateElement":  {"template"},
	"HTMLVideoElement":     {"video"},
	"HTMLAnchorElement":    {"a"},
	"HTMLTextAreaElement":  {"textarea"},
}

// TestPageTypesMatchHTML keeps the element maps of types/pages.d.ts, which
// type the modules' $(id) for make jscheck, in step with the pages: every
// element with an id is listed, under a type its tag has, and nothing else.
func TestPageTypesMatchHTML(t *testing.T) {
	decl, err := os.ReadFile("types/pages.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []struct{ iface, html string }{
		{"AppElements", "index.html"},
		{"CheckElements", "check.html"},
	} {
		listed := declaredElements(t, string(decl), page.iface)
		body, err := staticFS.ReadFile("static/" + page.html)
		if err != nil {
			t.Fatal(err)
		}
		inHTML := map[string]string{}
		for _, m := range regexp.MustCompile(`<([a-z][a-z0-9]*)\b[^>]*?\sid="([^"]+)"`).FindAllStringSubmatch(string(body), -1) {
			inHTML[m[2]] = m[1]
		}
		if len(inHTML) == 0 {
			t.Fatalf("%s: no element with an id found", page.html)
		}
		for id, tag := range inHTML {
			typ, ok := listed[id]
			switch {
			case !ok:
				t.Errorf("%s: <%s id=%q> is not in %s (types/pages.d.ts)", page.html, tag, id, page.iface)
			case typ == "HTMLElement":
			case !slices.Contains(elementTags[typ], tag):
				t.Errorf("%s: %s.%s is %s, but the element is a <%s>", page.html, page.iface, id, typ, tag)
			}
		}
		for id := range listed {
			if _, ok := inHTML[id]; !ok {
				t.Errorf("%s.%s (types/pages.d.ts): %s has no element with that id", page.iface, id, page.html)
			}
		}
	}
}

// declaredElements returns the id -> type entries of interface iface.
func declaredElements(t *testing.T, decl, iface string) map[string]string {
	t.Helper()
	start := strings.Index(decl, "interface "+iface+" {")
	if start < 0 {
		t.Fatalf("types/pages.d.ts: no interface %s", iface)
	}
	body := decl[start:]
	body = body[:strings.Index(body, "\n}")]
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*'?([\w-]+)'?: (HTML\w*Element);$`).FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	if len(out) == 0 {
		t.Fatalf("types/pages.d.ts: %s lists nothing", iface)
	}
	return out
}
