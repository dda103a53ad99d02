package api

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// The dashboard is the page at / and its files under /ui/, embedded in the
// binary: plain HTML, CSS and ES modules, no build step, nothing fetched
// from elsewhere (the Content-Security-Policy allows this origin alone).
// It reads the API and the stream as any client does, with the same token.

//go:embed ui
var uiFiles embed.FS

// uiPolicy is the dashboard's Content-Security-Policy.
const uiPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (h *Handler) routeUI() {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded directory is there
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	h.handle("GET /{$}", uiHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(index)
	})))
	h.handle("GET /ui/", uiHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ui/" || r.URL.Path == "/ui/index.html" {
			http.Redirect(w, r, "/", http.StatusMovedPermanently)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/ui/")
		if st, err := fs.Stat(sub, name); err != nil || st.IsDir() {
			h.fail(w, r, &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no such file of the dashboard: " + r.URL.Path})
			return
		}
		files.ServeHTTP(w, r)
	})))
}

// uiHeaders sets the headers of every file of the dashboard: its policy,
// and no caching without asking (the files change with the binary).
func uiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", uiPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}
