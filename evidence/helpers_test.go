package evidence

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mimamori/mention"
)

// requireTool skips the test when name is not installed, and fails it when
// the environment variable CI is set (the test script installs it).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required when CI is set: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// chromiumPath returns the browser for tests: MIMAMORI_TEST_CHROMIUM or
// Debian's /usr/bin/chromium. Missing: skip, or fail when CI is set.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("MIMAMORI_TEST_CHROMIUM")
	if p == "" {
		p = DefaultChromiumPath
	}
	if err := CheckChromium(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required when CI is set (apt-get install chromium): %v", err)
		}
		t.Skipf("chromium not available: %v", err)
	}
	return p
}

// testPKI is a CA and a TSA certificate made with openssl, once per run.
type testPKI struct {
	Dir, CAFile, TSACert, TSAKey, Config string
}

var (
	pkiOnce sync.Once
	pki     *testPKI
	pkiErr  error
	pkiRoot string
	// tempRoots are removed after all tests.
	tempRoots []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pkiRoot != "" {
		os.RemoveAll(pkiRoot)
	}
	for _, r := range tempRoots {
		os.RemoveAll(r)
	}
	os.Exit(code)
}

func getPKI(t *testing.T) *testPKI {
	t.Helper()
	requireTool(t, "openssl")
	pkiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mimamori-tsa-pki-")
		if err != nil {
			pkiErr = err
			return
		}
		pkiRoot = dir
		run := func(args ...string) {
			if pkiErr != nil {
				return
			}
			cmd := exec.Command("openssl", args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				pkiErr = &cmdError{args: args, out: string(out), err: err}
			}
		}
		os.WriteFile(filepath.Join(dir, "tsa.ext"), []byte("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"+
			"extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"), 0o600)
		run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
			"-days", "3650", "-subj", "/CN=mimamori test root CA", "-addext", "basicConstraints=critical,CA:TRUE",
			"-addext", "keyUsage=critical,keyCertSign,cRLSign")
		run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
			"-subj", "/CN=mimamori test TSA")
		run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.crt",
			"-days", "365", "-extfile", "tsa.ext")
		// A second, unrelated CA for the wrong-CA test.
		run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "other.key", "-out", "other.crt",
			"-days", "3650", "-subj", "/CN=some other CA", "-addext", "basicConstraints=critical,CA:TRUE")
		os.WriteFile(filepath.Join(dir, "tsaserial"), []byte("01\n"), 0o600)
		cnf := `[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = ` + dir + `
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/ca.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`
		os.WriteFile(filepath.Join(dir, "ts.cnf"), []byte(cnf), 0o600)
		pki = &testPKI{Dir: dir, CAFile: filepath.Join(dir, "ca.crt"), TSACert: filepath.Join(dir, "tsa.crt"),
			TSAKey: filepath.Join(dir, "tsa.key"), Config: filepath.Join(dir, "ts.cnf")}
	})
	if pkiErr != nil {
		t.Fatalf("make test PKI: %v", pkiErr)
	}
	return pki
}

type cmdError struct {
	args []string
	out  string
	err  error
}

func (e *cmdError) Error() string {
	return "openssl " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.out
}

// testTSA is an RFC 3161 TSA on loopback: HTTP in Go, the answers made by
// `openssl ts -reply` with the test PKI.
type testTSA struct {
	URL      string
	pki      *testPKI
	srv      *http.Server
	ln       net.Listener
	mu       sync.Mutex
	requests int
}

func startTSA(t *testing.T) *testTSA { return startTSAAt(t, "127.0.0.1:0") }

func startTSAAt(t *testing.T, addr string) *testTSA {
	t.Helper()
	p := getPKI(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testTSA{URL: "http://" + ln.Addr().String() + "/tsa", pki: p, ln: ln}
	ts.srv = &http.Server{Handler: http.HandlerFunc(ts.serve), ReadHeaderTimeout: 5 * time.Second}
	go ts.srv.Serve(ln)
	t.Cleanup(func() { ts.srv.Close() })
	return ts
}

func (ts *testTSA) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "want a POST of application/timestamp-query", http.StatusBadRequest)
		return
	}
	q, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts.mu.Lock() // openssl updates the serial file
	defer ts.mu.Unlock()
	ts.requests++
	dir, err := os.MkdirTemp(ts.pki.Dir, "q-")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(dir)
	qf, rf := filepath.Join(dir, "q.tsq"), filepath.Join(dir, "r.tsr")
	os.WriteFile(qf, q, 0o600)
	out, err := exec.Command("openssl", "ts", "-reply", "-config", ts.pki.Config, "-queryfile", qf, "-out", rf).CombinedOutput()
	if err != nil {
		http.Error(w, "openssl ts -reply: "+err.Error()+": "+string(out), http.StatusInternalServerError)
		return
	}
	resp, err := os.ReadFile(rf)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}

func (ts *testTSA) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.requests
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// opensslVerify checks a bundle's token with openssl, outside mimamori.
func opensslVerify(t *testing.T, bundle, caFile string) string {
	t.Helper()
	out, err := exec.Command("openssl", "ts", "-verify", "-data", filepath.Join(bundle, ManifestName),
		"-in", filepath.Join(bundle, TimestampName), "-CAfile", caFile).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify did not say OK:\n%s", out)
	}
	return string(out)
}

func sampleMention() mention.Mention {
	return mention.Mention{ID: "abc", Version: 1, SourceID: "forum", URL: "https://example.jp/t/1#p3", Text: "テスト"}
}

func sampleFetch() *mention.Fetch {
	return &mention.Fetch{RequestURL: "https://example.jp/t/1", FinalURL: "https://example.jp/t/1", Method: "GET",
		StatusCode: 200, Proto: "HTTP/2.0", Header: http.Header{"Content-Type": {"text/html; charset=Shift_JIS"}, "Content-Encoding": {"gzip"}},
		RequestHeader: http.Header{"User-Agent": {"mimamori-test/1.0"}},
		FetchedAt:     time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC), Body: []byte("<html>\x82\xa0 raw bytes</html>")}
}

// copyTree copies a folder (an evidence root) so each tamper case starts
// from the same capture.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		return os.WriteFile(target, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// inRoot maps a bundle path under one root to the same bundle under a copy.
func inRoot(t *testing.T, oldRoot, newRoot, bundle string) string {
	t.Helper()
	rel, err := filepath.Rel(oldRoot, bundle)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(newRoot, rel)
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	os.Chmod(path, 0o600)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 || at >= len(b) {
		at = len(b) / 2
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// bundleFiles lists every file of a bundle, relative, manifest and token
// included.
func bundleFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func names(ps []Problem) string {
	var b bytes.Buffer
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func hasProblem(ps []Problem, path string) bool {
	for _, p := range ps {
		if p.Path == path || strings.HasSuffix(p.Path, "/"+path) {
			return true
		}
	}
	return false
}

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
