package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
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

// protocolTypes pairs the server's message structs (signaling/protocol.go)
// with their declarations for the page (types/protocol.d.ts).
var protocolTypes = []struct{ goType, tsType string }{
	{"State", "PeerState"},
	{"Peer", "RosterPeer"},
	{"limits", "ServerLimits"},
	{"welcomeMsg", "WelcomeMessage"},
	{"joinedMsg", "JoinedMessage"},
	{"peerJoinedMsg", "PeerJoinedMessage"},
	{"peerLeftMsg", "PeerLeftMessage"},
	{"stateMsg", "StateEvent"},
	{"iceServersMsg", "IceServersMessage"},
	{"errorMsg", "ErrorMessage"},
}

// TestProtocolTypesMatchServer keeps types/protocol.d.ts, the message
// envelope make jscheck holds the page to, in step with what the server
// sends: each server message's declaration has exactly the JSON fields of
// its struct, relayed offers, answers and candidates together have the
// relay's, and every field the page may send is one the server reads.
func TestProtocolTypesMatchServer(t *testing.T) {
	decl, err := os.ReadFile("types/protocol.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	structs := jsonFields(t, "../signaling/protocol.go")
	check := func(goType string, goFields []string, tsTypes ...string) {
		t.Helper()
		ts := map[string]bool{}
		for _, name := range tsTypes {
			for f := range declaredFields(t, string(decl), name) {
				ts[f] = true
			}
		}
		want := map[string]bool{}
		for _, f := range goFields {
			want[f] = true
			if !ts[f] {
				t.Errorf("signaling.%s has %q; %s (types/protocol.d.ts) does not", goType, f, strings.Join(tsTypes, ", "))
			}
		}
		for f := range ts {
			if !want[f] {
				t.Errorf("%s (types/protocol.d.ts) has %q; signaling.%s does not", strings.Join(tsTypes, ", "), f, goType)
			}
		}
	}
	for _, p := range protocolTypes {
		fields, ok := structs[p.goType]
		if !ok {
			t.Fatalf("signaling/protocol.go: no struct %s", p.goType)
		}
		check(p.goType, fields, p.tsType)
	}
	check("relayMsg", structs["relayMsg"], "RelayedDescription", "RelayedCandidate")

	// What the page sends is read by the server (inbound), type aside.
	read := map[string]bool{}
	for _, f := range structs["inbound"] {
		read[f] = true
	}
	for _, name := range []string{"JoinMessage", "StateUpdate", "DescriptionOut", "CandidateOut"} {
		for f := range declaredFields(t, string(decl), name) {
			if !read[f] {
				t.Errorf("%s (types/protocol.d.ts) sends %q, which signaling's inbound does not read", name, f)
			}
		}
	}
}

// jsonFields returns the JSON field names of every struct in a Go file.
func jsonFields(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := spec.Type.(*ast.StructType)
		if !ok {
			return false
		}
		var names []string
		for _, field := range st.Fields.List {
			if field.Tag == nil {
				continue
			}
			tag, _ := strconv.Unquote(field.Tag.Value)
			name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
			if name != "" && name != "-" {
				names = append(names, name)
			}
		}
		out[spec.Name.Name] = names
		return false
	})
	return out
}

// declaredFields returns the field names of interface name in a .d.ts.
func declaredFields(t *testing.T, decl, name string) map[string]bool {
	t.Helper()
	start := strings.Index(decl, "interface "+name+" {")
	if start < 0 {
		t.Fatalf("types/protocol.d.ts: no interface %s", name)
	}
	body := decl[start:]
	body = body[:strings.Index(body, "\n}")]
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  (\w+)\??:`).FindAllStringSubmatch(body, -1) {
		out[m[1]] = true
	}
	if len(out) == 0 {
		t.Fatalf("types/protocol.d.ts: %s declares no field", name)
	}
	return out
}
