// Package frontend holds Daogou's three web faces as static files: the
// embeddable shop widget (widget.js) with its demo shop (demo/), the agent
// console (console/) and the supervisor live view (supervisor/), plus the
// shared assets (assets/). They are plain HTML, CSS and JavaScript modules
// with no build step, embedded so that the binary serves them as they are.
//
// Paths in Files, and the URLs that serve them:
//
//	widget.js            /widget.js
//	demo/index.html      /demo          (demo/<file>       at /demo/<file>)
//	console/index.html   /console       (console/<file>    at /console/<file>)
//	supervisor/index.html /supervisor   (supervisor/<file> at /supervisor/<file>)
//	assets/<file>        /assets/<file>
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files is the front ends' file tree, rooted so that "widget.js",
// "demo/index.html", "console/index.html", "supervisor/index.html" and
// "assets/app.css" resolve.
var Files fs.FS = sub(static, "static")

// sub roots f at dir. fs.Sub fails only for a malformed dir, and dir is a
// constant here, so a failure is a programming mistake caught by the tests.
func sub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic("frontend: " + err.Error())
	}
	return s
}
