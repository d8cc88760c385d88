package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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

// safetyNet wraps the guard's Control so that, should the guard ever let a
// non-loopback address through, the test fails and the socket is still
// refused before connect: these tests never send a packet off the host.
func safetyNet(t *testing.T, rt http.RoundTripper) {
	t.Helper()
	g := rt.(*transport).guard
	orig := g.dialer.ControlContext
	g.dialer.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		err := orig(ctx, network, address, c)
		if err == nil {
			if ap, perr := netip.ParseAddrPort(address); perr != nil || !ap.Addr().Unmap().IsLoopback() {
				t.Errorf("guard allowed a connection to %s", address)
				return errors.New("test safety net: refusing non-loopback connect")
			}
		}
		return err
	}
}

func guardedClient(t *testing.T, opts Options) *http.Client {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	c := NewClient(opts)
	safetyNet(t, c.Transport)
	return c
}

func TestBlockReason(t *testing.T) {
	cases := []struct {
		addr string
		want string // "" means allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"10.0.0.1", "private"},
		{"172.16.5.4", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"169.254.169.254", "link-local (cloud metadata)"},
		{"169.254.1.1", "link-local"},
		{"100.64.0.1", "shared (CGNAT)"},
		{"100.127.255.254", "shared (CGNAT)"},
		{"224.0.0.1", "multicast"},
		{"239.1.1.1", "multicast"},
		{"255.255.255.255", "reserved"},
		{"198.18.0.1", "benchmarking"},
		{"192.0.0.170", "IETF protocol assignment"},
		{"fc00::1", "unique local (private)"},
		{"fd00:ec2::254", "unique local (private)"}, // AWS IPv6 metadata
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"::ffff:127.0.0.1", "loopback"}, // IPv4-mapped
		{"::ffff:169.254.169.254", "link-local (cloud metadata)"},
		{"::ffff:10.1.2.3", "private"},
		{"::127.0.0.1", "IPv4-compatible"},
		{"64:ff9b::a00:1", "private (NAT64)"},   // 10.0.0.1
		{"64:ff9b::7f00:1", "loopback (NAT64)"}, // 127.0.0.1
		{"2002:7f00:1::1", "loopback (6to4)"},   // 127.0.0.1
		{"2002:a9fe:a9fe::1", "link-local (cloud metadata) (6to4)"},
		// Public addresses pass.
		{"93.184.215.14", ""},
		{"8.8.8.8", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"2606:4700:4700::1111", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"::ffff:8.8.8.8", ""},
	}
	for _, c := range cases {
		if got := BlockReason(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("BlockReason(%s) = %q, want %q", c.addr, got, c.want)
		}
	}
}

// TestControlRefuses checks the connect-time hook itself, the one that
// sees resolved addresses: it must refuse before the socket connects.
func TestControlRefuses(t *testing.T) {
	g := newGuard(Options{})
	for _, addr := range []string{"10.0.0.1:80", "169.254.169.254:80", "127.0.0.1:8080", "[::1]:443", "[::ffff:127.0.0.1]:80", "100.64.1.1:80", "[fd00::1]:80"} {
		var be *BlockedError
		err := g.control(context.Background(), "tcp4", addr, nil)
		if !errors.As(err, &be) || be.Addr != addr {
			t.Errorf("control(%s) = %v, want *BlockedError", addr, err)
		}
	}
	if err := g.control(context.Background(), "tcp4", "93.184.215.14:443", nil); err != nil {
		t.Errorf("control(public) = %v", err)
	}
	if err := g.control(context.Background(), "udp4", "93.184.215.14:53", nil); err == nil {
		t.Error("control(udp) allowed")
	}
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
			var be *BlockedError
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
		client := guardedClient(t, Options{AllowHosts: []string{public.Listener.Addr().String()}})
		resp, err := client.Get(public.URL + "/go")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("redirect to %s followed", target)
		}
		var be *BlockedError
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
		"allow host:port": {AllowHosts: []string{srv.Listener.Addr().String()}},
		"allow host":      {AllowHosts: []string{"127.0.0.1"}},
		"allow private":   {AllowPrivate: true},
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
	client := guardedClient(t, Options{AllowPrivate: true, MaxBodyBytes: limit})

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
	client := guardedClient(t, Options{AllowPrivate: true, MaxRedirects: 3, UserAgent: "mimamori-test/1"})
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
	noRedirects := guardedClient(t, Options{AllowPrivate: true, MaxRedirects: -1})
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
