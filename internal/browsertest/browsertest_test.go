package browsertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestMissingBrowser(t *testing.T) {
	for _, tc := range []struct {
		name      string
		found, ci bool
		want      verdict
	}{
		{"found, developer", true, false, run},
		{"found, CI", true, true, run},
		{"missing, developer", false, false, skip},
		{"missing, CI", false, true, fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := missing(tc.found, tc.ci); got != tc.want {
				t.Fatalf("missing(%v, %v) = %v, want %v", tc.found, tc.ci, got, tc.want)
			}
		})
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "1": true, "false": false, "0": false, "yes": true} {
		t.Setenv("CI", v)
		if got := inCI(); got != want {
			t.Errorf("CI=%q: inCI() = %v, want %v", v, got, want)
		}
	}
}

func TestChromiumPathFromEnv(t *testing.T) {
	t.Setenv("GASPAY_CHROMIUM", filepath.Join(t.TempDir(), "no-such-browser"))
	if _, ok := ChromiumPath(); ok {
		t.Fatal("a GASPAY_CHROMIUM that does not exist was taken as found")
	}
}

// TestHarness drives a real sandbox server: the service hall's page loads
// in a phone-sized window, and a screenshot is a PNG of that size.
func TestHarness(t *testing.T) {
	b := New(t)
	srv := Sandbox(t, nil)
	b.Do("open the service hall", chromedp.Navigate(srv.URL+"/h5/"))
	title := Get(b, "title", chromedp.Title())
	width := Get(b, "width", chromedp.Evaluate[int](`window.innerWidth`))
	height := Get(b, "height", chromedp.Evaluate[int](`window.innerHeight`))
	if !strings.Contains(title, "燃气") {
		t.Errorf("title %q, want the service hall's", title)
	}
	if width != Width || height != Height {
		t.Errorf("window %dx%d, want %dx%d", width, height, Width, Height)
	}
	t.Setenv("GASPAY_TEST_ARTIFACTS", t.TempDir())
	p := b.Screenshot("hall")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 24 || string(raw[1:4]) != "PNG" {
		t.Fatalf("%s is not a PNG", p)
	}
	w := int(raw[16])<<24 | int(raw[17])<<16 | int(raw[18])<<8 | int(raw[19])
	h := int(raw[20])<<24 | int(raw[21])<<16 | int(raw[22])<<8 | int(raw[23])
	if w != Width || h != Height {
		t.Errorf("screenshot %dx%d, want %dx%d", w, h, Width, Height)
	}
}
