package schedule

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

// PageCSP is the Content-Security-Policy every response carries: no
// script, nothing loaded from anywhere, no framing; inline styles and
// data: images only (the pages are self-contained).
const PageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// MinTokenBytes is the shortest bearer token serve accepts.
const MinTokenBytes = 16

// HTTPOptions say what Handler serves beyond /healthz, /metrics and
// /runs, and who may see it.
type HTTPOptions struct {
	// Pages answers every other GET (the trends pages at /); nil: 404.
	Pages http.Handler
	// Token, when set, must come as "Authorization: Bearer <token>" with
	// every request but /healthz (and /metrics with OpenMetrics).
	Token []byte
	// OpenMetrics exempts /metrics from the token, for a Prometheus
	// scraper on a trusted network.
	OpenMetrics bool
}

// secure wraps h: every response gets the CSP and its companions, and
// with a token every request but the exempt paths must carry it. The
// token is compared in constant time (of its sha256, so that its length
// does not show either).
func secure(h http.Handler, o HTTPOptions) http.Handler {
	var want [sha256.Size]byte
	if len(o.Token) > 0 {
		want = sha256.Sum256(o.Token)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", PageCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		exempt := r.URL.Path == "/healthz" || (o.OpenMetrics && r.URL.Path == "/metrics")
		if len(o.Token) > 0 && !exempt {
			given, ok := bearer(r)
			got := sha256.Sum256(given)
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !ok {
				hd.Set("WWW-Authenticate", `Bearer realm="batchscore"`)
				http.Error(w, "401 unauthorized: send Authorization: Bearer <token>", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// bearer is the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) ([]byte, bool) {
	v := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, false
	}
	tok = strings.TrimSpace(tok)
	return []byte(tok), tok != ""
}

// ErrNoToken: serve listens beyond loopback without a token.
var ErrNoToken = errors.New("serve needs a bearer token on a non-loopback address")

// CheckExposure refuses an address other than loopback without a token:
// the pages and /runs would be open to the network.
func CheckExposure(addr net.Addr, haveToken bool) error {
	if haveToken {
		return nil
	}
	tcp, ok := addr.(*net.TCPAddr)
	if ok && tcp.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: --listen %s is reachable from other machines: give --token-file FILE or --token-env VAR "+
		"(every request but /healthz then needs \"Authorization: Bearer <token>\"), or listen on 127.0.0.1", ErrNoToken, addr)
}

// LoadToken reads the bearer token from a file or from the environment
// variable named (one of them, or neither: nil). Surrounding white space
// is dropped; an empty or short token is refused. Errors name the file
// or the variable, never the value.
func LoadToken(file, env string) ([]byte, error) {
	var tok, from string
	switch {
	case file != "" && env != "":
		return nil, errors.New("give --token-file or --token-env, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		tok, from = string(b), "--token-file "+file
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("--token-env: environment variable %s is not set", env)
		}
		tok, from = v, "--token-env: environment variable "+env
	default:
		return nil, nil
	}
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "":
		return nil, fmt.Errorf("%s is empty", from)
	case len(tok) < MinTokenBytes:
		return nil, fmt.Errorf("%s holds a token of %d bytes: use at least %d (e.g. openssl rand -hex 32)", from, len(tok), MinTokenBytes)
	case strings.ContainsAny(tok, " \t\r\n"):
		return nil, fmt.Errorf("%s holds white space inside the token", from)
	}
	return []byte(tok), nil
}
