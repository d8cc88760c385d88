package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"mimamori/internal/netguard"
)

// TestDecompressionRatio: a gzip bomb fails once past the grace with a
// clear error, before the body cap is reached; ordinary compressed pages
// and small very regular bodies pass, decoded.
func TestDecompressionRatio(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	bomb := gz(bytes.Repeat([]byte{0}, 64<<20)) // 64 MiB from ~64 KB: 1000×
	real, err := os.ReadFile("../testdata/fixtures/5ch-itest/applism_1517988732.json")
	if err != nil {
		t.Fatal(err)
	}
	page := gz(bytes.Repeat(real, 4))               // a real API answer, ~2 MB
	small := gz(bytes.Repeat([]byte("a"), 512<<10)) // within the grace
	mux := http.NewServeMux()
	for path, body := range map[string][]byte{"/bomb": bomb, "/page": page, "/small": small} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(body)
		})
	}
	srv, _ := countingServer(t, mux)
	client := guardedClient(t, Options{Policy: netguard.Policy{AllowPrivate: true}, MaxBodyBytes: 256 << 20, MaxDecompressionRatio: 100})
	get := func(path string) (int, error) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != "" || !resp.Uncompressed {
			t.Errorf("%s: response still marked compressed", path)
		}
		b, err := io.ReadAll(resp.Body)
		return len(b), err
	}
	n, err := get("/bomb")
	var dr *DecompressionRatioError
	if !errors.As(err, &dr) || dr.Ratio != 100 || n > 4<<20 {
		t.Fatalf("/bomb: %d bytes read, %v", n, err)
	}
	if !strings.Contains(err.Error(), "expands more than 100×") || !strings.Contains(err.Error(), "decompression bomb") {
		t.Errorf("message %q", err)
	}
	if n, err := get("/page"); err != nil || n != 4*len(real) {
		t.Errorf("/page: %d bytes, %v", n, err)
	}
	if n, err := get("/small"); err != nil || n != 512<<10 {
		t.Errorf("/small: %d bytes, %v", n, err)
	}
}

// TestCheck resolves and refuses before any connection.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ hostport, reason string }{
		{"127.0.0.1:80", "loopback"},
		{"localhost:8080", "loopback"},
		{"169.254.169.254:80", "link-local (cloud metadata)"},
		{"10.1.2.3:443", "private"},
		{"[::1]:80", "loopback"},
	} {
		var be *netguard.BlockedError
		if err := Check(ctx, c.hostport, Options{}); !errors.As(err, &be) || be.Reason != c.reason {
			t.Errorf("Check(%s) = %v, want %s", c.hostport, err, c.reason)
		}
	}
	if err := Check(ctx, "127.0.0.1:80", Options{Policy: netguard.Policy{AllowHosts: []string{"127.0.0.1:80"}}}); err != nil {
		t.Errorf("allowed host refused: %v", err)
	}
	if err := Check(ctx, "93.184.215.14:443", Options{}); err != nil {
		t.Errorf("public address refused: %v", err)
	}
	// NewDialer is the guard too (AfterGuard: the safety net).
	dial := NewDialer(Options{AfterGuard: func(_, addr string) error {
		t.Errorf("guard let %s through", addr)
		return errors.New("safety net")
	}})
	var be *netguard.BlockedError
	if _, err := dial(ctx, "tcp", net.JoinHostPort("169.254.169.254", "80")); !errors.As(err, &be) {
		t.Errorf("NewDialer: %v", err)
	}
}
