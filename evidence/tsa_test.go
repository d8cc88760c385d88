package evidence

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nlnwa/gowarc/v2"
)

func tsaStore(t *testing.T, root, url string) *Store {
	t.Helper()
	p := getPKI(t)
	s, err := Open(root, Options{Tool: "mimamori-test", Render: RenderOptions{Disabled: true},
		TSA: TSAOptions{URL: url, CAFile: p.CAFile, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTimestampToken: a capture gets an RFC 3161 token from a real TSA
// (openssl ts -reply on loopback); openssl ts -verify accepts it outside
// mimamori, and evidence verify checks imprint and chain to the CA.
func TestTimestampToken(t *testing.T) {
	tsa := startTSA(t)
	s := tsaStore(t, t.TempDir(), tsa.URL)
	res, err := s.CaptureWith(context.Background(), sampleMention(), sampleFetch(), CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Timestamp != "stamped" || tsa.count() != 1 {
		t.Fatalf("timestamp %q (%s), %d requests", res.Timestamp, res.TimestampError, tsa.count())
	}
	t.Logf("capture without rendering, with a TSA token, took %v", res.Duration)
	opensslVerify(t, res.Ref.Path, getPKI(t).CAFile)
	r, err := s.Verify(res.Ref.BundleID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Timestamp == nil || !r.Timestamp.ChainVerified || r.Timestamp.TSA != "CN=mimamori test TSA" {
		t.Fatalf("verify: %+v\n%s", r.Timestamp, names(r.Problems))
	}
	if d := time.Until(r.Timestamp.Time); d > time.Minute || d < -time.Minute {
		t.Fatalf("token time %v", r.Timestamp.Time)
	}
	// The manifest says a token is expected; the token is not listed.
	man, _, _ := ReadManifest(res.Ref.Path)
	if man.Timestamp == nil || man.Timestamp.TokenFile != TimestampName {
		t.Fatalf("manifest timestamp plan %+v", man.Timestamp)
	}
	for _, f := range man.Files {
		if f.Path == TimestampName {
			t.Fatal("token listed in the manifest it signs")
		}
	}
	// The chain records the token.
	entries, _, _, _ := ReadChain(s.Root())
	if len(entries) != 2 || entries[1].Type != EntryTimestamp || entries[1].TokenSHA256 == "" {
		t.Fatalf("chain: %+v", entries)
	}
}

func TestTimestampTampering(t *testing.T) {
	tsa := startTSA(t)
	src := t.TempDir()
	s := tsaStore(t, src, tsa.URL)
	ref, err := s.Capture(sampleMention(), sampleFetch())
	if err != nil {
		t.Fatal(err)
	}
	roots := s.TSARoots()
	cases := []struct {
		name   string
		tamper func(root, bundle string)
		want   string
	}{
		{"flip a byte of the token", func(_, b string) { flip(t, filepath.Join(b, TimestampName), -1) }, TimestampName},
		{"flip the last byte of the token", func(_, b string) {
			data, _ := os.ReadFile(filepath.Join(b, TimestampName))
			flip(t, filepath.Join(b, TimestampName), len(data)-1)
		}, TimestampName},
		{"delete the token", func(_, b string) { os.Remove(filepath.Join(b, TimestampName)) }, TimestampName},
		{"swap in a token of another bundle", func(root, b string) {
			other := tsaStore(t, t.TempDir(), tsa.URL)
			oref, _ := other.Capture(sampleMention(), sampleFetch())
			data, _ := os.ReadFile(filepath.Join(oref.Path, TimestampName))
			os.Chmod(filepath.Join(b, TimestampName), 0o600)
			os.WriteFile(filepath.Join(b, TimestampName), data, 0o600)
		}, TimestampName},
		{"flip a byte of the manifest", func(_, b string) { flip(t, filepath.Join(b, ManifestName), 40) }, ManifestName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, src)
			b := inRoot(t, src, root, ref.Path)
			tc.tamper(root, b)
			r, err := VerifyWith(b, VerifyOptions{Root: root, TSARoots: roots})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || !hasProblem(r.Problems, tc.want) {
				t.Fatalf("want a problem on %s, got:\n%s", tc.want, names(r.Problems))
			}
		})
	}
	t.Run("token of an untrusted TSA", func(t *testing.T) {
		other, err := LoadCAFile(filepath.Join(getPKI(t).Dir, "other.crt"))
		if err != nil {
			t.Fatal(err)
		}
		r, _ := VerifyWith(ref.Path, VerifyOptions{TSARoots: other})
		if r.OK() || !strings.Contains(names(r.Problems), "does not chain to the configured CA") {
			t.Fatalf("untrusted TSA accepted:\n%s", names(r.Problems))
		}
	})
}

// TestTSADownThenRetry: with the TSA unreachable the capture is stored,
// says the token is pending, verify says so (not tampering), and
// RetryPending fetches the token once the TSA is back.
func TestTSADownThenRetry(t *testing.T) {
	addr := freeAddr(t)
	s := tsaStore(t, t.TempDir(), "http://"+addr+"/tsa")
	res, err := s.CaptureWith(context.Background(), sampleMention(), sampleFetch(), CaptureOptions{})
	if err != nil {
		t.Fatalf("capture must survive a TSA outage: %v", err)
	}
	if res.Timestamp != "pending" || !strings.Contains(res.TimestampError, "TSA unavailable") || !res.Degraded() {
		t.Fatalf("result %+v", res)
	}
	msgs := strings.Join(res.Messages(), "\n")
	if !strings.Contains(msgs, "without a trusted timestamp yet") || !strings.Contains(msgs, "connection refused") {
		t.Fatalf("messages: %s", msgs)
	}
	r, _ := s.Verify(res.Ref.Path)
	if !r.OK() || !strings.Contains(strings.Join(r.Notes, "\n"), "no trusted timestamp yet") {
		t.Fatalf("pending token: %s notes %v", names(r.Problems), r.Notes)
	}
	// Still down: the retry says so and keeps the work.
	rep, _ := s.RetryPending(context.Background())
	if rep.TimestampsPending != 1 || rep.TimestampsStored != 0 || len(rep.Errors) == 0 {
		t.Fatalf("retry while down: %+v", rep)
	}
	tsa := startTSAAt(t, addr)
	rep, _ = s.RetryPending(context.Background())
	if rep.TimestampsStored != 1 || rep.TimestampsPending != 0 {
		t.Fatalf("retry when up: %+v", rep)
	}
	opensslVerify(t, res.Ref.Path, getPKI(t).CAFile)
	if r, _ := s.Verify(res.Ref.Path); !r.OK() || r.Timestamp == nil || !r.Timestamp.ChainVerified {
		t.Fatalf("after retry: %s", names(r.Problems))
	}
	if rep, _ := s.RetryPending(context.Background()); rep.TimestampsStored != 0 || tsa.count() != 1 {
		t.Fatalf("nothing left to retry: %+v, %d requests", rep, tsa.count())
	}
	if crep, _ := VerifyChain(s.Root(), s.TSARoots(), nil); !crep.OK() || crep.Timestamped != 1 {
		t.Fatalf("chain: %s", names(crep.Problems))
	}
}

// TestTSARefusal: a TSA answering with an error status or garbage is
// treated like an outage.
func TestTSARefusal(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"HTTP 500": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) },
		"garbage":  func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("not DER")) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := &http.Server{Handler: h}
			addr := freeAddr(t)
			ln, err := netListen(addr)
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			defer srv.Close()
			s := tsaStore(t, t.TempDir(), "http://"+addr+"/")
			res, err := s.CaptureWith(context.Background(), sampleMention(), sampleFetch(), CaptureOptions{})
			if err != nil || res.Timestamp != "pending" {
				t.Fatalf("%+v %v", res, err)
			}
			if !errors.Is(errors.New(res.TimestampError), ErrTSAUnavailable) && !strings.Contains(res.TimestampError, "TSA unavailable") {
				t.Fatal(res.TimestampError)
			}
		})
	}
}

// TestWARCParses: the WARC of a bundle reads back with gowarc, with valid
// digests, and its response payload is the raw body.
func TestWARCParses(t *testing.T) {
	s := NewStore(t.TempDir(), "mimamori-test")
	f := sampleFetch()
	ref, err := s.Capture(sampleMention(), f)
	if err != nil {
		t.Fatal(err)
	}
	checkWARC(t, filepath.Join(ref.Path, WARCName), f.FinalURL, f.Body)
}

func checkWARC(t *testing.T, path, target string, body []byte) {
	t.Helper()
	r, err := gowarc.NewWarcFileReader(path, 0, gowarc.WithStrictValidation())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var types []string
	for {
		rec, _, val, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("WARC record %d: %v", len(types)+1, err)
		}
		if val != nil && !val.Valid() {
			t.Fatalf("WARC record %s: %s", rec.Type(), val)
		}
		if rec.Version().String() != "WARC/1.1" {
			t.Fatalf("version %s", rec.Version())
		}
		types = append(types, rec.Type().String())
		switch rec.Type() {
		case gowarc.Response:
			if got := rec.WarcHeader().Get(gowarc.WarcTargetURI); got != target {
				t.Fatalf("target %q", got)
			}
			hb, ok := rec.Block().(gowarc.HttpResponseBlock)
			if !ok {
				t.Fatalf("response block %T", rec.Block())
			}
			if hb.HttpStatusCode() != 200 || hb.HttpHeader().Get("Content-Encoding") != "" {
				t.Fatalf("status %d, content-encoding %q", hb.HttpStatusCode(), hb.HttpHeader().Get("Content-Encoding"))
			}
			pr, _ := hb.PayloadBytes()
			got, _ := io.ReadAll(pr)
			if !bytes.Equal(got, body) {
				t.Fatalf("payload %q, want the raw body", got)
			}
		case gowarc.Request:
			hb, ok := rec.Block().(gowarc.HttpRequestBlock)
			// gowarc gives the request target as the "request line".
			if !ok || !strings.HasPrefix(target, "http") || !strings.HasSuffix(target, hb.HttpRequestLine()) || hb.HttpHeader().Get("User-Agent") == "" {
				t.Fatalf("request block %T %q", rec.Block(), hb.HttpRequestLine())
			}
		}
		rec.Close()
	}
	if strings.Join(types, ",") != "warcinfo,request,response,metadata" {
		t.Fatalf("records %v", types)
	}
}

// TestTokenStoredBeforeCrash: a crash after the token file was written but
// before its chain line leaves the marker; the retry records the token in
// the chain without asking the TSA again.
func TestTokenStoredBeforeCrash(t *testing.T) {
	tsa := startTSA(t)
	s := tsaStore(t, t.TempDir(), tsa.URL)
	res, err := s.CaptureWith(context.Background(), sampleMention(), sampleFetch(), CaptureOptions{})
	if err != nil || res.Timestamp != "stamped" {
		t.Fatal(res, err)
	}
	chain := filepath.Join(s.Root(), ChainFile)
	data := mustRead(t, chain)
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	os.WriteFile(chain, []byte(strings.Join(lines[:len(lines)-1], "")), 0o640)
	man, _, _ := ReadManifest(res.Ref.Path)
	rel, _ := filepath.Rel(s.Root(), res.Ref.Path)
	if _, err := s.writeMarker(markerTimestamp, pendingMarker{BundleID: man.BundleID, Path: filepath.ToSlash(rel), ManifestSHA256: res.Ref.ManifestSHA256,
		Position: man.ChainPosition, Since: man.CapturedAt, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Verify(res.Ref.Path); !r.OK() || !strings.Contains(strings.Join(r.Notes, "\n"), "no line for this token") {
		t.Fatalf("%s %v", names(r.Problems), r.Notes)
	}
	rep, _ := s.RetryPending(context.Background())
	if rep.TimestampsStored != 1 || tsa.count() != 1 {
		t.Fatalf("%+v, %d TSA requests", rep, tsa.count())
	}
	if crep, _ := VerifyChain(s.Root(), s.TSARoots(), nil); !crep.OK() || crep.Timestamped != 1 {
		t.Fatalf("%s", names(crep.Problems))
	}
}
