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
)

//go:embed static
var staticFS embed.FS

// Options configures the page handler.
type Options struct {
	// Logger receives one debug line per unexpected request error. Nil
	// means slog.Default().
	Logger *slog.Logger
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
//	GET /r/{room}    the call page for a room (the same app, routed client-side)
//	GET /check       the network-check page
//	GET /assets/...  the page's modules, style sheet and icon
//
// and 404 for anything else. Every answer carries a strict
// Content-Security-Policy, nosniff, a referrer policy and a permissions
// policy; files carry a content-hash ETag with Cache-Control: no-cache, so
// browsers revalidate and get 304 while nothing changed.
func Handler(opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
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
	return securityHeaders(mux)
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
// shape here; whether it exists is the signaling server's business.
func (h *handler) room(w http.ResponseWriter, r *http.Request) {
	if !validRoom(r.PathValue("room")) {
		h.notFound(w, r)
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
	if !ok {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304, and Range and HEAD too.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintln(w, "404 not found")
}

// validRoom reports whether s looks like a room code: 1 to 64 characters of
// letters, digits, '-' and '_'.
func validRoom(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
