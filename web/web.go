// Package web holds gaspay's embedded pages: the service hall (服务大厅) the
// official account opens, and later the staff pages. They are plain HTML
// and JavaScript compiled into the binary, talking to the same JSON API as
// every other client; no build step, nothing fetched from elsewhere.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed h5 admin
var files embed.FS

// H5 serves the service hall under /h5/.
func H5() http.Handler {
	sub, err := fs.Sub(files, "h5")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.StripPrefix("/h5/", http.FileServerFS(sub))
}

// Admin serves the staff console under /admin/.
func Admin() http.Handler {
	sub, err := fs.Sub(files, "admin")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.StripPrefix("/admin/", http.FileServerFS(sub))
}
