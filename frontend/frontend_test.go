package frontend

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestFilesResolve(t *testing.T) {
	for _, tc := range []struct {
		name, path, want string
	}{
		{"widget", "widget.js", "window.Daogou"},
		{"demo page", "demo/index.html", `src="/widget.js"`},
		{"demo page in English", "demo/en.html", `data-locale="en"`},
		{"demo script", "demo/shop.js", "setContext"},
		{"console page", "console/index.html", `/console/main.js`},
		{"console script", "console/main.js", "/ws/agent"},
		{"supervisor page", "supervisor/index.html", `/supervisor/main.js`},
		{"supervisor script", "supervisor/main.js", "/ws/supervisor"},
		{"shared styles", "assets/app.css", ":focus-visible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := fs.ReadFile(Files, tc.path)
			if err != nil {
				t.Fatalf("read %s: %v", tc.path, err)
			}
			if !bytes.Contains(b, []byte(tc.want)) {
				t.Errorf("%s does not contain %q", tc.path, tc.want)
			}
		})
	}
}

// TestWidgetSize keeps the embeddable widget under 25 KB gzipped.
func TestWidgetSize(t *testing.T) {
	b, err := fs.ReadFile(Files, "widget.js")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if n := buf.Len(); n >= 25*1024 {
		t.Errorf("widget.js is %d bytes gzipped, want under %d", n, 25*1024)
	}
}

// TestNoHTMLParsing: text from the wire is never parsed as HTML, so no
// script may assign innerHTML/outerHTML or call insertAdjacentHTML or
// document.write.
func TestNoHTMLParsing(t *testing.T) {
	bad := regexp.MustCompile(`\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML|document\.write`)
	err := fs.WalkDir(Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		b, err := fs.ReadFile(Files, path)
		if err != nil {
			return err
		}
		if loc := bad.FindIndex(b); loc != nil {
			t.Errorf("%s: %q parses HTML", path, b[loc[0]:loc[1]])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoExternalResources: the pages must work with no internet, so no file
// may load a script, style or font from another host.
func TestNoExternalResources(t *testing.T) {
	bad := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import\s+url\(\s*["']?(https?:)?//|url\(\s*["']?https?://`)
	err := fs.WalkDir(Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Files, path)
		if err != nil {
			return err
		}
		if loc := bad.FindIndex(b); loc != nil {
			t.Errorf("%s: %q loads from another host", path, b[loc[0]:loc[1]])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
