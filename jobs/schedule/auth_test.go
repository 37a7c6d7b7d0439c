package schedule

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenAuth(t *testing.T) {
	const token = "s3cret-token-0123456789"
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page "+r.URL.Path) })
	for _, open := range []bool{false, true} {
		h := New(Options{}).HandlerWith(HTTPOptions{Pages: pages, Token: []byte(token), OpenMetrics: open})
		for _, tc := range []struct {
			path, auth string
			code       int
		}{
			{"/healthz", "", 200},
			{"/", "", 401},
			{"/", "Bearer wrong-token-0123456789", 401},
			{"/", "Bearer " + token[:len(token)-1], 401},
			{"/", "Bearer " + token + "x", 401},
			{"/", "Basic " + token, 401},
			{"/", token, 401},
			{"/", "Bearer " + token, 200},
			{"/", "bearer " + token, 200},
			{"/jobs/x/", "Bearer " + token, 200},
			{"/runs", "", 401},
			{"/runs", "Bearer " + token, 200},
			{"/healthz/", "", 401}, // only /healthz itself is open
			{"/metrics", "", map[bool]int{false: 401, true: 200}[open]},
			{"/metrics", "Bearer " + token, 200},
		} {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Errorf("open metrics %v: GET %s with %q: %d, want %d", open, tc.path, tc.auth, rec.Code, tc.code)
			}
			if got := rec.Header().Get("Content-Security-Policy"); got != PageCSP {
				t.Errorf("GET %s: CSP %q", tc.path, got)
			}
			if rec.Code == 401 && (rec.Header().Get("WWW-Authenticate") == "" || strings.Contains(rec.Body.String(), "page")) {
				t.Errorf("GET %s: 401 without WWW-Authenticate, or with the page", tc.path)
			}
		}
	}
	// Without a token everything is open (loopback), still with the CSP.
	rec := httptest.NewRecorder()
	New(Options{}).HandlerWith(HTTPOptions{Pages: pages}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Security-Policy") != PageCSP {
		t.Errorf("no token: %d %v", rec.Code, rec.Header())
	}
}

func TestCheckExposure(t *testing.T) {
	for _, tc := range []struct {
		ip    string
		token bool
		ok    bool
	}{
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"10.1.2.3", false, false},
		{"0.0.0.0", true, true},
	} {
		err := CheckExposure(&net.TCPAddr{IP: net.ParseIP(tc.ip), Port: 9464}, tc.token)
		if (err == nil) != tc.ok || (err != nil && (!errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "--token-file"))) {
			t.Errorf("%s, token %v: %v", tc.ip, tc.token, err)
		}
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	const value = "a-token-of-enough-bytes-42"
	good := filepath.Join(dir, "token")
	os.WriteFile(good, []byte(value+"\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc123"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	t.Setenv("BS_TEST_TOKEN", value)
	t.Setenv("BS_TEST_SHORT", "abc123")

	if tok, err := LoadToken(good, ""); err != nil || string(tok) != value {
		t.Errorf("file: %q %v", tok, err)
	}
	if tok, err := LoadToken("", "BS_TEST_TOKEN"); err != nil || string(tok) != value {
		t.Errorf("env: %q %v", tok, err)
	}
	if tok, err := LoadToken("", ""); err != nil || tok != nil {
		t.Errorf("none: %q %v", tok, err)
	}
	for _, tc := range []struct{ file, env, want string }{
		{good, "BS_TEST_TOKEN", "not both"},
		{short, "", "at least 16"},
		{empty, "", "is empty"},
		{filepath.Join(dir, "missing"), "", "no such file"},
		{"", "BS_TEST_SHORT", "BS_TEST_SHORT holds a token of 6 bytes"},
		{"", "BS_TEST_UNSET", "BS_TEST_UNSET is not set"},
	} {
		_, err := LoadToken(tc.file, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: %v, want %q", tc.file, tc.env, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), value) || strings.Contains(err.Error(), "abc123")) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}
