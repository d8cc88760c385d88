package monitor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"mimamori/config"
	"mimamori/evidence"
	"mimamori/mention"
)

// fakeClock is a settable clock for the monitor.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// observedMonitor is a monitor whose log is observed. The logger adds
// stack traces at Error level, as the daemon's JSON logger does.
func observedMonitor(t *testing.T, clock *fakeClock, mutate func(*config.Config)) (*Monitor, *observer.ObservedLogs) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Evidence.DisableRender = true
	cfg.Targets = []mention.Target{{ID: "company", Kind: mention.KindCompany, Name: "株式会社サンプル", Aliases: []string{"サンプル社"}}}
	if mutate != nil {
		mutate(&cfg)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core, zap.AddStacktrace(zapcore.ErrorLevel))
	m, _ := newTestMonitor(t, Options{Config: cfg, Log: log, Now: clock.Now})
	return m, logs
}

// alertablePosts returns n distinct posts that the detector alerts on.
func alertablePosts(from, n int) []mention.Post {
	var ps []mention.Post
	for i := from; i < from+n; i++ {
		p := post(0, fmt.Sprintf("株式会社サンプルは詐欺会社 (%d)", i))
		p.Permalink = fmt.Sprintf("https://forum.example.jp/t/%d#p1", i)
		ps = append(ps, p)
	}
	return ps
}

// diskFullCapturer fails every capture like a full evidence disk while
// full is set, and captures with the real store otherwise.
type diskFullCapturer struct {
	next Capturer
	mu   sync.Mutex
	full bool
}

func (c *diskFullCapturer) ExistingCapture(m mention.Mention) (mention.EvidenceRef, bool) {
	return c.next.ExistingCapture(m)
}

func (c *diskFullCapturer) set(full bool) { c.mu.Lock(); c.full = full; c.mu.Unlock() }

func (c *diskFullCapturer) CaptureWith(ctx context.Context, m mention.Mention, f *mention.Fetch, o evidence.CaptureOptions) (evidence.Result, error) {
	c.mu.Lock()
	full := c.full
	c.mu.Unlock()
	if full {
		err := &fs.PathError{Op: "write", Path: "/evidence/2026/01/.tmp-x/fetch.warc", Err: syscall.ENOSPC}
		return evidence.Result{}, fmt.Errorf("capture evidence for %s: bundle not stored, no existing bundle was touched: %w: %w",
			m.ID, evidence.ErrDiskFull, err)
	}
	return c.next.CaptureWith(ctx, m, f, o)
}

// diskFullSetups are the two ways the tests make the evidence disk full:
// setup returns functions that make it full and give the space back.
var diskFullSetups = []struct {
	name  string
	setup func(t *testing.T, m *Monitor) (full, free func())
}{
	{"injected ENOSPC", func(t *testing.T, m *Monitor) (func(), func()) {
		c := &diskFullCapturer{next: m.pipeline.evidence}
		m.pipeline.evidence = c
		return func() { c.set(true) }, func() { c.set(false) }
	}},
	{"full tmpfs", func(t *testing.T, m *Monitor) (func(), func()) {
		d := mountTmpfs(t)
		ev, err := evidence.Open(filepath.Join(d.dir, "evidence"), evidence.Options{Tool: "t", Render: evidence.RenderOptions{Disabled: true}})
		if err != nil {
			t.Fatal(err)
		}
		m.evidence, m.pipeline.evidence = ev, ev
		return func() { d.fill(t) }, func() { d.free(t) }
	}},
}

// tmpfsDisk is a real 512 KiB tmpfs holding the evidence root; fill takes
// all its space, free gives it back.
type tmpfsDisk struct{ dir string }

func mountTmpfs(t *testing.T) *tmpfsDisk {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return &tmpfsDisk{dir: dir}
}

func (d *tmpfsDisk) fill(t *testing.T) {
	t.Helper()
	f, err := os.Create(filepath.Join(d.dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

func (d *tmpfsDisk) free(t *testing.T) {
	t.Helper()
	if err := os.Remove(filepath.Join(d.dir, "filler")); err != nil {
		t.Fatal(err)
	}
}

// TestDiskFullDoesNotFloodTheLog drives 60 alertable posts over four
// minutes through a pipeline whose evidence disk is full, then frees the
// disk. The log holds one line when the state starts, at most one summary
// a minute, one line when it ends, and no stack trace; the metrics count
// every failure. Every alert is still queued.
func TestDiskFullDoesNotFloodTheLog(t *testing.T) {
	tests := diskFullSetups
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
			m, logs := observedMonitor(t, clock, nil)
			full, free := tt.setup(t, m)
			full()
			start := clock.Now()
			alerts := 0
			const passes, perPass = 24, 3 // 72 posts, one pass every 10 s
			for i := 0; i < passes; i++ {
				s := m.pipeline.Process(ctx, "forum", alertablePosts(i*perPass, perPass))
				alerts += s.Alerts
				clock.Add(10 * time.Second)
			}
			if alerts != passes*perPass {
				t.Fatalf("%d of %d alerts queued while the disk was full", alerts, passes*perPass)
			}
			minutes := int(clock.Now().Sub(start) / time.Minute)
			if !m.evidenceFull.active() {
				t.Error("disk-full state not on")
			}
			if got := counterValue(t, m, "mimamori_disk_full_failures_total"); got != passes*perPass {
				t.Errorf("failure counter %v, want %d", got, passes*perPass)
			}
			if got := counterValue(t, m, "mimamori_disk_full"); got != 1 {
				t.Errorf("disk-full gauge %v while full", got)
			}
			duringFull := logs.Len()
			free()
			if s := m.pipeline.Process(ctx, "forum", alertablePosts(1000, 2)); s.Alerts != 2 || s.Errors != 0 {
				t.Fatalf("after freeing the disk: %+v", s)
			}
			if got := counterValue(t, m, "mimamori_disk_full"); got != 0 {
				t.Errorf("disk-full gauge %v after recovery", got)
			}

			// Lines while the disk was full (warnings and errors: the
			// daemon's default level also shows Info, but a post's "alert
			// queued" is not about the disk) and the recovery line.
			var lines []string
			for i, e := range logs.All() {
				if e.Stack != "" {
					t.Errorf("stack trace logged for an expected condition: %q", e.Message)
				}
				if (i < duringFull && e.Level >= zapcore.WarnLevel) || strings.Contains(e.Message, "disk space back") {
					lines = append(lines, e.Level.String()+" "+e.Message)
				}
			}
			if max := 3 + minutes; len(lines) > max {
				t.Errorf("%d warning/error lines for %d minutes of full disk, want at most %d:\n%s", len(lines), minutes, max, strings.Join(lines, "\n"))
			}
			if n := logs.FilterMessageSnippet("disk full: evidence").Len(); n != 1 {
				t.Errorf("state change logged %d times, want once:\n%s", n, strings.Join(lines, "\n"))
			}
			if n := logs.FilterMessageSnippet("disk still full").Len(); n < 1 {
				t.Errorf("no periodic summary while the disk was full:\n%s", strings.Join(lines, "\n"))
			}
			if n := logs.FilterMessageSnippet("disk space back: evidence").Len(); n != 1 {
				t.Errorf("recovery logged %d times, want once:\n%s", n, strings.Join(lines, "\n"))
			}
		})
	}
}

// counterValue reads a metric of the monitor's registry (summed over
// labels).
func counterValue(t *testing.T, m *Monitor, name string) float64 {
	t.Helper()
	mfs, err := m.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if c := mt.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if g := mt.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
	}
	return sum
}

// sqliteErr carries a SQLite result code like modernc.org/sqlite's errors.
type sqliteErr int

func (e sqliteErr) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteErr) Code() int     { return int(e) }

func TestIsDiskFull(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"evidence", fmt.Errorf("capture: %w", evidence.ErrDiskFull), true},
		{"ENOSPC", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{"EDQUOT", fmt.Errorf("wrapped: %w", syscall.EDQUOT), true},
		{"SQLITE_FULL", fmt.Errorf("accept: %w", sqliteErr(13)), true},
		{"other SQLite error", fmt.Errorf("accept: %w", sqliteErr(5)), false},
		{"not a folder", &fs.PathError{Op: "mkdir", Path: "x", Err: syscall.ENOTDIR}, false},
		{"plain", errors.New("disk full"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isDiskFull(tt.err); got != tt.want {
				t.Errorf("isDiskFull(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestDiskFullStateLines: how many lines a run of failures gives, by how
// long it lasts.
func TestDiskFullStateLines(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		every    time.Duration // between failures
		recover  bool
		want     int // log lines
	}{
		{"one failure", 1, time.Second, false, 1},
		{"a burst within a minute", 500, 100 * time.Millisecond, false, 1},
		{"three minutes", 181, time.Second, false, 4},
		{"three minutes, recovered", 181, time.Second, true, 5},
		{"no failure, a success", 0, time.Second, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
			core, logs := observer.New(zapcore.DebugLevel)
			d := newDiskFullState("evidence", zap.New(core), clock.Now, newMetrics(nil))
			for i := 0; i < tt.failures; i++ {
				d.fail("capture evidence", syscall.ENOSPC)
				clock.Add(tt.every)
			}
			if tt.recover {
				d.ok()
			}
			if logs.Len() != tt.want {
				t.Errorf("%d lines, want %d", logs.Len(), tt.want)
			}
			if d.active() != (tt.failures > 0 && !tt.recover) {
				t.Errorf("active = %v", d.active())
			}
		})
	}
}
