// Package web serves StreamSync's call page: a landing page, the call page
// for a room (/r/{room}) and a network-check page (/check), all plain ES
// modules embedded in the binary. It owns no state: the page talks to the
// signaling WebSocket at /ws, mounted next to it by main.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/streamsync/streamsync/internal/roomid"
)

//go:embed static
var staticFS embed.FS

// Options configures the page handler.
type Options struct {
	// Logger receives one debug line per unexpected request error; nil
	// discards them.
	Logger *slog.Logger
	// ConnectTo returns the base URLs (http(s)://host[:port]) of other
	// origins the page may open its signaling WebSocket to: in a cluster,
	// the live nodes' public_url, for the page to fail over to. Nil means
	// none. Invalid ones, and any past the sixteenth, are left out.
	ConnectTo func() []string
}

// asset is one embedded file held in memory with its validator.
type asset struct {
	name        string
	body        []byte
	etag        string // quoted strong ETag: a prefix of the content's SHA-256
	contentType string
}

// Handler returns the http.Handler for the page. It answers:
//
//	GET /            landing page (new meeting, join by code)
//	GET /r/{room}    the call page for a room (the same app, routed client-side);
//	                 a malformed room id gets the app with status 404, which
//	                 tells the person the link is broken
//	GET /check       the network-check page
//	GET /assets/...  the page's modules, style sheet and icon
//
// and a 404 page in the page's own design for anything else. Every answer carries a strict
// Content-Security-Policy, nosniff, a referrer policy and a permissions
// policy; files carry a content-hash ETag with Cache-Control: no-cache, so
// browsers revalidate and get 304 while nothing changed.
func Handler(opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	assets, err := loadAssets()
	if err != nil {
		// The files are compiled in: failing here is a build defect.
		panic(fmt.Sprintf("web: load embedded assets: %v", err))
	}
	h := &handler{log: log, assets: assets}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page("index.html"))
	mux.HandleFunc("GET /r/{room}", h.room)
	mux.HandleFunc("GET /check", h.page("check.html"))
	mux.HandleFunc("GET /assets/{file}", h.asset)
	mux.HandleFunc("/", h.notFound)
	return securityHeaders(mux, opts.ConnectTo)
}

type handler struct {
	log    *slog.Logger
	assets map[string]*asset // by name relative to static/; read-only after Handler
}

func loadAssets() (map[string]*asset, error) {
	out := make(map[string]*asset)
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "static/")
		ct := mime.TypeByExtension(path.Ext(name))
		switch path.Ext(name) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[name] = &asset{
			name:        name,
			body:        body,
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			contentType: ct,
		}
		return nil
	})
	return out, err
}

func (h *handler) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, name) }
}

// room serves the app for /r/{room}. The room code is only checked for
// shape here; whether it exists is the signaling server's business. A
// malformed one still gets the app, with status 404: it says, in the
// page's own design and before asking for a camera, that the link is
// broken and offers a new meeting.
func (h *handler) room(w http.ResponseWriter, r *http.Request) {
	if !roomid.Valid(r.PathValue("room")) {
		h.serveStatus(w, r, "index.html", http.StatusNotFound)
		return
	}
	h.serve(w, r, "index.html")
}

func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if strings.HasSuffix(name, ".html") {
		h.notFound(w, r)
		return
	}
	h.serve(w, r, name)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.assets[name]
	if !ok || name == "notfound.html" {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304, and Range and HEAD too.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

// notFound answers 404 with a page in the app's design that says what
// to do (the app's own style sheet; no script).
func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.serveStatus(w, r, "notfound.html", http.StatusNotFound)
}

// serveStatus writes an HTML asset with a status other than 200: not
// cached, no validators, no ranges.
func (h *handler) serveStatus(w http.ResponseWriter, r *http.Request, name string, status int) {
	a := h.assets[name]
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}
