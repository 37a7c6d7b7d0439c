package miniotest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// Traffic counts what went through a Proxy.
type Traffic struct {
	gets, getBytes atomic.Int64
}

// GETs is the number of GET requests (object reads and listings) so far.
func (t *Traffic) GETs() int64 { return t.gets.Load() }

// GETBytes is the number of response body bytes GET requests returned.
func (t *Traffic) GETBytes() int64 { return t.getBytes.Load() }

// Reset sets both counts to zero.
func (t *Traffic) Reset() { t.gets.Store(0); t.getBytes.Store(0) }

// Proxy puts a counting reverse proxy between the client and the server
// and returns bucketURL with its endpoint moved to the proxy: what a test
// then reads through that URL is counted on the wire, whatever the client
// does. The proxy stops when the test ends.
func Proxy(t testing.TB, bucketURL string) (string, *Traffic) {
	t.Helper()
	return FaultProxy(t, bucketURL, nil)
}

// FaultProxy is Proxy with a fault: when fault says so for a response the
// server gave, the client gets a 503 Service Unavailable instead, though
// the server did what was asked (a lost response).
func FaultProxy(t testing.TB, bucketURL string, fault func(*http.Response) bool) (string, *Traffic) {
	t.Helper()
	s := shared(t)
	target, err := url.Parse(s.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Traffic{}
	transport := &http.Transport{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the client signed this Host (SigV4)
		},
		Transport: transport,
		ModifyResponse: func(resp *http.Response) error {
			if fault != nil && fault(resp) {
				resp.Body.Close()
				resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
				body := "<Error><Code>ServiceUnavailable</Code><Message>injected by miniotest</Message></Error>"
				resp.Body = io.NopCloser(strings.NewReader(body))
				resp.ContentLength = int64(len(body))
				resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
				resp.Header.Del("ETag")
			}
			if resp.Request.Method == http.MethodGet {
				tr.gets.Add(1)
				resp.Body = countingBody{resp.Body, &tr.getBytes}
			}
			return nil
		},
	}
	ps := httptest.NewServer(rp)
	t.Cleanup(func() {
		ps.Close()
		transport.CloseIdleConnections()
	})
	return strings.Replace(bucketURL, "endpoint="+s.endpoint, "endpoint="+ps.URL, 1), tr
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
