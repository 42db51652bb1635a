package auth

import (
	"errors"
	"testing"
)

func TestCheckNext(t *testing.T) {
	s := &Service{cfg: Config{NextPaths: []string{"/h5/", "/admin/login"}}}
	for _, tt := range []struct{ in, want string }{
		{"", "/h5/"},
		{"/h5/", "/h5/"},
		{"/h5/pay?account=7", "/h5/pay?account=7"},
		{"/h5/a/../b", "/h5/b"},
		{"/h5", "/h5"},
		{"/admin/login", "/admin/login"},
	} {
		got, err := s.CheckNext(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("CheckNext(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"https://evil.example/h5/", "//evil.example/h5/", "/\\evil.example", "\\\\evil.example", "/h5/../admin",
		"/h5/..", "javascript:alert(1)", "h5/", "/h5x/", "/h5/\r\nSet-Cookie: x=1", "/admin/login/../../x",
		"/%2F%2Fevil.example", "http:/h5/", "/h5/\t",
	} {
		if got, err := s.CheckNext(in); !errors.Is(err, ErrBadNext) {
			t.Errorf("CheckNext(%q) = %q, %v; want refused", in, got, err)
		}
	}
}
