package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// HallPages are the service hall's pages. Each is the same document
// (h5/index.html), which shows the page its path names, so that a link, a
// reload or a provider's return URL (Alipay's cashier returns to /h5/result)
// opens that page directly.
var HallPages = []string{"", "accounts", "bind", "account", "pay", "result", "records", "receipt"}

// Hall serves the service hall under /h5/: its pages, its assets, and
// notFound for any other path, so that a missing page answers in the
// caller's terms rather than as plain text.
func Hall(notFound http.Handler) http.Handler {
	sub, err := fs.Sub(files, "h5")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	indexTag := etag(index)
	pages := make(map[string]bool, len(HallPages))
	for _, p := range HallPages {
		pages[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/h5/")
		if !ok || r.Method != http.MethodGet && r.Method != http.MethodHead {
			notFound.ServeHTTP(w, r)
			return
		}
		if pages[name] {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("ETag", indexTag)
			http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
			return
		}
		// An asset: a plain file name of the tree, nothing else.
		if name == "index.html" || name != path.Clean(name) || strings.ContainsAny(name, "/\\") {
			notFound.ServeHTTP(w, r)
			return
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			notFound.ServeHTTP(w, r)
			return
		}
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		// Revalidated on every visit, answered 304 while unchanged.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag(body))
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// NotFoundPage is the service hall's page for a path that is not one, in
// Chinese, for a person who followed a bad link.
func NotFoundPage() []byte { return notFoundPage }

var notFoundPage = []byte(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>页面不存在</title><link rel="stylesheet" href="/h5/style.css"></head>
<body><header><h1>燃气服务大厅</h1></header><main><section class="card">
<h2>页面不存在</h2><p>您要找的页面不存在或已移动。</p>
<p><a class="button" href="/h5/">返回服务大厅</a></p>
</section></main></body></html>
`)
