package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mimamori/evidence"
	"mimamori/mention"
)

// requireTool returns the path of an installed tool; missing, the test
// fails under CI and skips elsewhere.
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

// run runs a command in dir and returns its combined output and exit code.
func run(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), 0
}

// startTSA makes a CA and a TSA certificate with openssl and serves RFC
// 3161 answers from `openssl ts -reply` on loopback. It returns the TSA
// URL and the CA file.
func startTSA(t *testing.T) (url, caFile string) {
	t.Helper()
	requireTool(t, "openssl")
	dir := t.TempDir()
	ossl := func(args ...string) {
		t.Helper()
		if out, code := run(t, dir, "openssl", args...); code != 0 {
			t.Fatalf("openssl %v: %s", args, out)
		}
	}
	os.WriteFile(filepath.Join(dir, "tsa.ext"), []byte("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"+
		"extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"), 0o600)
	ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
		"-days", "3650", "-subj", "/CN=mimamori e2e root CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=mimamori e2e TSA")
	ossl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.crt", "-days", "365", "-extfile", "tsa.ext")
	os.WriteFile(filepath.Join(dir, "tsaserial"), []byte("01\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "ts.cnf"), []byte(`[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = `+dir+`
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/ca.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`), 0o600)
	var mu sync.Mutex // openssl updates the serial file
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		mu.Lock()
		defer mu.Unlock()
		qf, rf := filepath.Join(dir, "q.tsq"), filepath.Join(dir, "r.tsr")
		os.WriteFile(qf, q, 0o600)
		if out, err := exec.Command("openssl", "ts", "-reply", "-config", filepath.Join(dir, "ts.cnf"), "-queryfile", qf, "-out", rf).CombinedOutput(); err != nil {
			http.Error(w, string(out), http.StatusInternalServerError)
			return
		}
		resp, _ := os.ReadFile(rf)
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/tsa", filepath.Join(dir, "ca.crt")
}

// coverCommand returns the arguments of the first line of the cover sheet
// that runs prog.
func coverCommand(t *testing.T, cover, prog string) []string {
	t.Helper()
	for _, line := range strings.Split(cover, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == prog {
			return f[1:]
		}
	}
	t.Fatalf("the cover sheet has no %s command:\n%s", prog, cover)
	return nil
}

// TestUnzippedExportVerifiesWithTheCoverCommands: export a bundle with the
// binary, unzip it with unzip into a temp folder, and run the cover
// sheet's commands there, as a lawyer would: sha256sum -c, openssl ts
// -verify when there is a token, and the mimamori verify command, which
// passes and reports the chain excerpt as checked. A changed excerpt line
// makes the same command fail.
func TestUnzippedExportVerifiesWithTheCoverCommands(t *testing.T) {
	requireTool(t, "unzip")
	tsaURL, caFile := startTSA(t)
	cases := []struct {
		name string
		// tsa is the TSA the bundle is captured with ("": none).
		tsa string
		// exportCA is passed as --tsa-ca to the export ("": none).
		exportCA string
		// token: the cover has an openssl step.
		token bool
		// wantCA: the cover's verify command names tsa-ca.pem.
		wantCA bool
	}{
		{name: "no timestamp"},
		{name: "timestamp and CA", tsa: tsaURL, exportCA: caFile, token: true, wantCA: true},
		// Exported without the CA: the command must not name a missing file.
		{name: "timestamp without CA", tsa: tsaURL, token: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "evidence")
			o := evidence.Options{Tool: "mimamori-e2e", Render: evidence.RenderOptions{Disabled: true}}
			if c.tsa != "" {
				o.TSA = evidence.TSAOptions{URL: c.tsa, CAFile: caFile, Timeout: 10 * time.Second}
			}
			s, err := evidence.Open(root, o)
			if err != nil {
				t.Fatal(err)
			}
			m := mention.Mention{ID: "m1", Version: 1, SourceID: "forum", URL: "https://f.example.jp/t/1#p1", Text: "サンプル社は詐欺"}
			f := &mention.Fetch{RequestURL: "https://f.example.jp/t/1", FinalURL: "https://f.example.jp/t/1", Method: "GET", StatusCode: 200,
				Header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, FetchedAt: time.Now().UTC(),
				Body: []byte("<html><body><p>サンプル社は詐欺</p></body></html>")}
			if _, err := s.Capture(m, f); err != nil {
				t.Fatal(err)
			}
			ref, err := s.Capture(m, f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.RecordObservation(context.Background(), ref.BundleID, mention.Mention{}, evidence.Observation{Kind: evidence.ObservedDeleted, StatusCode: 410}, nil); err != nil {
				t.Fatal(err)
			}
			work := t.TempDir() // no mimamori.yaml here: the commands use only their flags
			zipPath := filepath.Join(work, "export.zip")
			args := []string{"evidence", "export", ref.Path, "--out", zipPath}
			if c.exportCA != "" {
				args = append(args, "--tsa-ca", c.exportCA)
			}
			if out, code := run(t, work, binary, args...); code != 0 {
				t.Fatalf("export exited %d:\n%s", code, out)
			}
			dir := filepath.Join(work, "unzipped")
			if out, code := run(t, work, "unzip", "-q", zipPath, "-d", dir); code != 0 {
				t.Fatalf("unzip: %s", out)
			}
			coverBytes, err := os.ReadFile(filepath.Join(dir, evidence.CoverName))
			if err != nil {
				t.Fatal(err)
			}
			cover := string(coverBytes)
			if out, code := run(t, dir, requireTool(t, "sha256sum"), "-c", "--quiet", "SHA256SUMS"); code != 0 {
				t.Fatalf("sha256sum -c in the unzipped export: %s", out)
			}
			if c.token && c.wantCA {
				ossl := coverCommand(t, cover, "openssl")
				if out, code := run(t, dir, "openssl", ossl...); code != 0 || !strings.Contains(out, "Verification: OK") {
					t.Fatalf("the cover's openssl command: exit %d\n%s", code, out)
				}
			}
			if !c.token && strings.Contains(cover, "openssl ts") {
				t.Errorf("a cover without a token has an openssl step:\n%s", cover)
			}
			verify := coverCommand(t, cover, "mimamori")
			if strings.Contains(strings.Join(verify, " "), "tsa-ca.pem") != c.wantCA {
				t.Errorf("verify command %v: names tsa-ca.pem %v, want %v", verify, !c.wantCA, c.wantCA)
			}
			out, code := run(t, dir, binary, verify...)
			if code != 0 || !strings.HasPrefix(out, "OK ") || !strings.Contains(out, "checked against the chain excerpt chain/chain-excerpt.jsonl") ||
				strings.Contains(out, "not checked (") || strings.Contains(out, ": not checked") {
				t.Fatalf("the cover's verify command %v in the unzipped export: exit %d, want 0 with the chain excerpt checked:\n%s", verify, code, out)
			}
			if c.wantCA && !strings.Contains(out, "TSA certificate chains to the configured CA") {
				t.Errorf("the TSA chain was not checked:\n%s", out)
			}
			// The excerpt is checked, not just found: a changed line fails.
			p := filepath.Join(dir, "chain", "chain-excerpt.jsonl")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), ref.ManifestSHA256, strings.Repeat("0", 64), 1)), 0o600)
			if out, code := run(t, dir, binary, verify...); code != 1 || !strings.Contains(out, "chain excerpt") {
				t.Fatalf("verify after changing the excerpt: exit %d, want 1 naming the excerpt:\n%s", code, out)
			}
		})
	}
}
