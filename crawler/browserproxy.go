package crawler

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"mimamori/crawler/fetch"
	"mimamori/internal/netguard"
)

// guardProxy is a forward HTTP proxy on loopback through which headless
// Chromium makes every request of a browser pass: plain requests go out
// through the SSRF-guarded dialer, CONNECT tunnels are dialled through it
// too. So the guard decides on the address actually connected to, after
// Chromium's redirects and the page's own subrequests, with no window for
// DNS rebinding between a check and the connection.
type guardProxy struct {
	ln   net.Listener
	srv  *http.Server
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	rt   *http.Transport
	// budget caps the bytes a browser pass may pull from the network
	// (answers and tunnels together), so a hostile page cannot exhaust
	// memory or disk; used counts them.
	budget int64
	used   atomic.Int64

	mu      sync.Mutex
	blocked []*netguard.BlockedError
	tunnels []net.Conn
	shut    bool
	conns   sync.WaitGroup
}

// blockedHeader marks the proxy's refusals so the pass can tell them from
// the site's own 403.
const blockedHeader = "X-Mimamori-Blocked"

func newGuardProxy(opts fetch.Options) (*guardProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	maxBody := opts.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = fetch.DefaultMaxBodyBytes
	}
	p := &guardProxy{ln: ln, dial: fetch.NewDialer(opts), budget: 8 * maxBody}
	p.rt = &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dial,
		DisableCompression:    true, // pass the encoding through to Chromium
		ResponseHeaderTimeout: max(opts.Timeout, 5*time.Second),
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// URL is the proxy's address for --proxy-server.
func (p *guardProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *guardProxy) close() {
	p.srv.Close()
	p.mu.Lock()
	p.shut = true
	for _, c := range p.tunnels {
		c.Close()
	}
	p.mu.Unlock()
	p.rt.CloseIdleConnections()
	p.conns.Wait()
}

// refusals returns the guard's refusals so far.
func (p *guardProxy) refusals() []*netguard.BlockedError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*netguard.BlockedError(nil), p.blocked...)
}

func (p *guardProxy) refuse(w http.ResponseWriter, err error) bool {
	var be *netguard.BlockedError
	if !errors.As(err, &be) {
		return false
	}
	p.mu.Lock()
	p.blocked = append(p.blocked, be)
	p.mu.Unlock()
	w.Header().Set(blockedHeader, be.Reason)
	http.Error(w, be.Error(), http.StatusForbidden)
	return true
}

var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *guardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, err := p.rt.RoundTrip(out)
	if err != nil {
		if !p.refuse(w, err) {
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		}
		return
	}
	defer resp.Body.Close()
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	p.copy(w, resp.Body)
}

// copy copies until src ends or the pass's byte budget is spent; then the
// connection is cut, and the page renders (or fails) with what it got.
func (p *guardProxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.used.Add(int64(n)) > p.budget {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *guardProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	up, err := p.dial(ctx, "tcp", r.Host)
	cancel()
	if err != nil {
		if !p.refuse(w, err) {
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		}
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "proxy: cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		down.Close()
		return
	}
	if !p.track(up, down) {
		up.Close()
		down.Close()
		return
	}
	p.conns.Add(2)
	go func() {
		defer p.conns.Done()
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			up.Write(b)
		}
		p.copy(up, down)
		closeWrite(up)
	}()
	go func() {
		defer p.conns.Done()
		p.copy(down, up)
		closeWrite(down)
	}()
}

// track remembers a tunnel's connections so close can end them
// (http.Server.Close does not reach hijacked connections); false when the
// proxy is closing.
func (p *guardProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shut {
		return false
	}
	p.tunnels = append(p.tunnels, conns...)
	return true
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}
