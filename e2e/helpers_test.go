// Package e2e runs mimamori's real binary against real servers: a local
// HTTP site serving realistic pages, and a real SMTP server (mailpit).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mimamori-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mimamori")
	// -tags failpoint compiles in the crash test's hook (MIMAMORI_FAILPOINT);
	// production builds have none.
	out, err := exec.Command("go", "build", "-tags", "failpoint", "-o", binary, "../cmd/mimamori").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build mimamori: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mailpitBinary finds mailpit: $MIMAMORI_MAILPIT, then PATH. Under CI it
// must exist (the test script installs it); elsewhere the test skips with
// the command that installs it.
func mailpitBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MIMAMORI_MAILPIT"); p != "" {
		return p
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("mailpit not found: scripts/test.sh installs it (go install github.com/axllent/mailpit@v1.33.1)")
	}
	t.Skip("mailpit not found; run scripts/test.sh, or go install github.com/axllent/mailpit@v1.33.1")
	return ""
}

// Mailpit is a real SMTP server on loopback with its HTTP API.
type Mailpit struct {
	SMTPPort int
	APIPort  int
	cmd      *exec.Cmd
	bin, db  string
	t        *testing.T
}

// startMailpit starts mailpit with its messages kept in a file, so a stop
// and start keeps what it received.
func startMailpit(t *testing.T) *Mailpit {
	t.Helper()
	mp := &Mailpit{SMTPPort: freePort(t), APIPort: freePort(t), bin: mailpitBinary(t),
		db: filepath.Join(t.TempDir(), "mailpit.db"), t: t}
	mp.Start()
	t.Cleanup(mp.Stop)
	return mp
}

// Start starts the server and waits until its API answers.
func (mp *Mailpit) Start() {
	mp.t.Helper()
	mp.cmd = exec.Command(mp.bin, "--smtp", fmt.Sprintf("127.0.0.1:%d", mp.SMTPPort),
		"--listen", fmt.Sprintf("127.0.0.1:%d", mp.APIPort), "--database", mp.db,
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--quiet")
	mp.cmd.Stdout, mp.cmd.Stderr = os.Stderr, os.Stderr
	if err := mp.cmd.Start(); err != nil {
		mp.t.Fatalf("start mailpit: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := mp.messages(); err == nil {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", mp.SMTPPort)); err == nil {
				c.Close()
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	mp.t.Fatal("mailpit did not start within 20s")
}

// Stop stops the server.
func (mp *Mailpit) Stop() {
	if mp.cmd != nil && mp.cmd.Process != nil {
		mp.cmd.Process.Signal(syscall.SIGTERM)
		mp.cmd.Wait()
		mp.cmd = nil
	}
}

// Message is what the tests read of a received mail.
type Message struct {
	ID          string `json:"ID"`
	MessageID   string `json:"MessageID"`
	Subject     string `json:"Subject"`
	Snippet     string `json:"Snippet"`
	Attachments int    `json:"Attachments"`
}

func (mp *Mailpit) messages() ([]Message, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/messages?limit=1000", mp.APIPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("mailpit API: %s", resp.Status)
	}
	var body struct {
		Messages []Message `json:"messages"`
	}
	return body.Messages, json.NewDecoder(resp.Body).Decode(&body)
}

// Messages returns every received message.
func (mp *Mailpit) Messages() []Message {
	mp.t.Helper()
	ms, err := mp.messages()
	if err != nil {
		mp.t.Fatal(err)
	}
	return ms
}

// Raw returns a message's full source.
func (mp *Mailpit) Raw(id string) string {
	mp.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/message/%s/raw", mp.APIPort, id))
	if err != nil {
		mp.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Daemon is a running `mimamori run`.
type Daemon struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startDaemon runs `mimamori run --config cfg`.
func startDaemon(t *testing.T, cfg string) *Daemon {
	t.Helper()
	d := &Daemon{done: make(chan error, 1)}
	d.cmd = exec.Command(binary, "run", "--config", cfg)
	d.cmd.Stderr = lockedWriter{&d.mu, &d.stderr}
	d.cmd.Stdout = d.cmd.Stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// Log returns what the daemon logged so far.
func (d *Daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// WaitLog waits until the log contains s.
func (d *Daemon) WaitLog(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(d.Log(), s) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("daemon log has no %q within %v:\n%s", s, within, d.Log())
}

// Stop sends SIGTERM and requires exit status 0 within 30 s.
func (d *Daemon) Stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("daemon exited with %v after SIGTERM:\n%s", err, d.Log())
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		t.Fatalf("daemon did not exit within 30s of SIGTERM:\n%s", d.Log())
	}
}

// mimamori runs the binary and returns its combined output and exit code.
func mimamori(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("mimamori %v: %v", args, err)
	}
	return string(out), code
}
