package fetch

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mimamori/internal/netguard"
)

// countingServer is an httptest server that counts accepted connections,
// so a test can prove the guard refused before connecting.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// safetyNet is the guard's AfterGuard in tests: should the guard ever let a
// non-loopback address through, the test fails and the socket is still
// refused before connect, so these tests never send a packet off the host.
func safetyNet(t *testing.T) func(network, address string) error {
	t.Helper()
	return func(network, address string) error {
		if ap, err := netip.ParseAddrPort(address); err != nil || !ap.Addr().Unmap().IsLoopback() {
			t.Errorf("guard allowed a connection to %s", address)
			return errors.New("test safety net: refusing non-loopback connect")
		}
		return nil
	}
}

func guardedClient(t *testing.T, opts Options) *http.Client {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.AfterGuard == nil {
		opts.AfterGuard = safetyNet(t)
	}
	return NewClient(opts)
}

func TestSSRFRefusedBeforeConnect(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret internal page")
	}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	client := guardedClient(t, Options{Timeout: time.Second})

	cases := []struct {
		name, url, reason string
	}{
		// A literal loopback address.
		{"ipv4 loopback", srv.URL + "/", "loopback"},
		// A DNS name resolving to loopback: refused in Control, after
		// resolution.
		{"localhost", "http://localhost:" + port + "/", "loopback"},
		{"ipv6 loopback", "http://[::1]:" + port + "/", "loopback"},
		{"ipv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + port + "/", "loopback"},
		// Non-loopback targets: refused at dial time, no packet sent (the
		// safety net above would fail the test otherwise).
		{"private", "http://10.0.0.1/", "private"},
		{"metadata", "http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata)"},
		{"unspecified", "http://0.0.0.0:" + port + "/", "unspecified"},
	}
	ipv6 := true
	if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		ipv6 = false // no IPv6 socket, so no packet either
	} else {
		l.Close()
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !ipv6 && strings.Contains(c.url, "[") {
				t.Skip("no IPv6 on this host")
			}
			start := time.Now()
			resp, err := client.Get(c.url)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s succeeded", c.url)
			}
			var be *netguard.BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("GET %s: error %v (%T), want *BlockedError", c.url, err, err)
			}
			if be.Reason != c.reason {
				t.Errorf("reason %q, want %q", be.Reason, c.reason)
			}
			if !strings.Contains(err.Error(), "SSRF guard") {
				t.Errorf("error %q does not name the guard", err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("refusal took %v: it should not wait for a connection", d)
			}
		})
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("server saw %d connections, want 0", n)
	}
}

func TestRedirectToLoopbackRefused(t *testing.T) {
	internal, internalConns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "internal")
	}))
	_, internalPort, _ := net.SplitHostPort(internal.Listener.Addr().String())
	for _, target := range []string{internal.URL + "/admin", "http://localhost:" + internalPort + "/admin"} {
		public, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		}))
		// The "public" server is allowed by host:port; the other loopback
		// port is not.
		client := guardedClient(t, Options{Policy: netguard.Policy{AllowHosts: []string{public.Listener.Addr().String()}}})
		resp, err := client.Get(public.URL + "/go")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("redirect to %s followed", target)
		}
		var be *netguard.BlockedError
		if !errors.As(err, &be) || be.Reason != "loopback" {
			t.Fatalf("redirect to %s: %v, want *BlockedError loopback", target, err)
		}
	}
	if n := internalConns.Load(); n != 0 {
		t.Errorf("internal server saw %d connections, want 0", n)
	}
}

func TestAllowHostsAndAllowPrivate(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	for name, opts := range map[string]Options{
		"allow host:port":     {Policy: netguard.Policy{AllowHosts: []string{srv.Listener.Addr().String()}}},
		"allow host":          {Policy: netguard.Policy{AllowHosts: []string{"127.0.0.1"}}},
		"allow private":       {Policy: netguard.Policy{AllowPrivate: true}},
		"allow private, home": {Policy: netguard.Policy{AllowPrivate: true, Home: srv.URL + "/feed"}},
	} {
		resp, err := guardedClient(t, opts).Get(srv.URL)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Errorf("%s: body %q", name, b)
		}
	}
}

func TestNoProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://10.9.9.9:3128")
	t.Setenv("HTTPS_PROXY", "http://10.9.9.9:3128")
	rt := NewTransport(Options{}).(*transport)
	if rt.next.(*http.Transport).Proxy != nil {
		t.Fatal("transport has a Proxy func: an environment proxy would bypass the guard")
	}
}

func TestBodyCap(t *testing.T) {
	const limit = 1000
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("あ"), 10000)) // 30,000 bytes, compresses to ~100
	zw.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("a"), limit))
	})
	mux.HandleFunc("/over", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("a"), limit+1))
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 10 {
			w.Write(bytes.Repeat([]byte("a"), 500))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Error("transport did not ask for gzip")
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz.Bytes())
	})
	mux.HandleFunc("/br", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		w.Write([]byte("xx"))
	})
	srv, _ := countingServer(t, mux)
	client := guardedClient(t, Options{Policy: netguard.Policy{AllowPrivate: true}, MaxBodyBytes: limit})

	get := func(path string) ([]byte, error) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	if b, err := get("/exact"); err != nil || len(b) != limit {
		t.Errorf("/exact: %d bytes, %v", len(b), err)
	}
	for _, path := range []string{"/over", "/chunked", "/gzip"} {
		_, err := get(path)
		var tl *BodyTooLargeError
		if !errors.As(err, &tl) || tl.Limit != limit {
			t.Errorf("%s: %v, want *BodyTooLargeError", path, err)
		} else if err.Error() != "response body exceeds 1000 bytes" && !strings.HasSuffix(err.Error(), "response body exceeds 1000 bytes") {
			t.Errorf("%s: message %q", path, err)
		}
	}
	if _, err := get("/br"); !errors.Is(err, ErrUnsupportedEncoding) {
		t.Errorf("/br: %v, want ErrUnsupportedEncoding", err)
	}
}

func TestRedirectCapAndUserAgent(t *testing.T) {
	var ua atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/r/{n}", func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		n := r.PathValue("n")
		if n == "0" {
			io.WriteString(w, "done")
			return
		}
		http.Redirect(w, r, "/r/"+string(rune(n[0]-1)), http.StatusFound)
	})
	srv, _ := countingServer(t, mux)
	client := guardedClient(t, Options{Policy: netguard.Policy{AllowPrivate: true}, MaxRedirects: 3, UserAgent: "mimamori-test/1"})
	resp, err := client.Get(srv.URL + "/r/3")
	if err != nil {
		t.Fatalf("3 redirects: %v", err)
	}
	resp.Body.Close()
	if got := ua.Load(); got != "mimamori-test/1" {
		t.Errorf("User-Agent %q", got)
	}
	_, err = client.Get(srv.URL + "/r/4")
	var tm *TooManyRedirectsError
	if !errors.As(err, &tm) || tm.Max != 3 {
		t.Errorf("4 redirects: %v, want *TooManyRedirectsError", err)
	}
	noRedirects := guardedClient(t, Options{Policy: netguard.Policy{AllowPrivate: true}, MaxRedirects: -1})
	if _, err := noRedirects.Get(srv.URL + "/r/1"); !errors.As(err, &tm) {
		t.Errorf("redirects disabled: %v", err)
	}
}

func TestUnsupportedScheme(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "file:///etc/passwd", nil)
	if _, err := NewTransport(Options{}).RoundTrip(req); err == nil {
		t.Fatal("file: URL fetched")
	}
}

// TestAllowPrivateRedirects: allow_private opens the source's own host
// only. A redirect from it to the metadata service, to another loopback
// port or to another loopback name is refused before connecting, with an
// error naming the host; a redirect on the same host is followed.
func TestAllowPrivateRedirects(t *testing.T) {
	other, otherConns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "other service")
	}))
	_, otherPort, _ := net.SplitHostPort(other.Listener.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	mux.HandleFunc("/here", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "same host")
	})
	src, _ := countingServer(t, mux)
	_, srcPort, _ := net.SplitHostPort(src.Listener.Addr().String())

	var mu sync.Mutex
	var dialled []string
	opts := Options{Timeout: 2 * time.Second, Policy: netguard.Policy{AllowPrivate: true, Home: src.URL + "/feed"},
		AfterGuard: func(network, address string) error {
			mu.Lock()
			dialled = append(dialled, address)
			mu.Unlock()
			return safetyNet(t)(network, address)
		}}
	client := NewClient(opts)
	for _, c := range []struct {
		name, target, host, reason string
	}{
		{"metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local (cloud metadata)"},
		{"metadata v6", "http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254", "unique local (cloud metadata)"},
		{"link-local", "http://169.254.10.1/", "169.254.10.1", "link-local"},
		{"other port", other.URL + "/admin", "127.0.0.1", "loopback"},
		{"other name", "http://localhost:" + srcPort + "/here", "localhost", "loopback"},
		{"other name, other port", "http://localhost:" + otherPort + "/", "localhost", "loopback"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := client.Get(src.URL + "/to?u=" + url.QueryEscape(c.target))
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Fatalf("redirect to %s followed: %q", c.target, b)
			}
			var be *netguard.BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("redirect to %s: %v, want *netguard.BlockedError", c.target, err)
			}
			if be.Host != c.host || be.Reason != c.reason {
				t.Errorf("refused host %q reason %q, want %q %q", be.Host, be.Reason, c.host, c.reason)
			}
			if !strings.Contains(err.Error(), c.host) || !strings.Contains(err.Error(), "allow_") {
				t.Errorf("error %q does not name the host and the setting", err)
			}
		})
	}
	resp, err := client.Get(src.URL + "/to?u=" + url.QueryEscape("/here"))
	if err != nil {
		t.Fatalf("same-host redirect: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "same host" {
		t.Errorf("same-host redirect: body %q", b)
	}
	if n := otherConns.Load(); n != 0 {
		t.Errorf("the other server saw %d connections, want 0", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range dialled {
		if a != src.Listener.Addr().String() {
			t.Errorf("guard let a connection to %s through", a)
		}
	}
}
