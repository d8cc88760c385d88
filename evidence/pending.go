package evidence

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"mimamori/mention"
)

// Work left for later lives under <root>/.pending/<kind>/<bundle id>.json:
// state, not evidence, so it may be rewritten.
const (
	pendingDir      = ".pending"
	markerTimestamp = "timestamp"
	markerRender    = "render"
)

type pendingMarker struct {
	BundleID       string    `json:"bundle_id"`
	Path           string    `json:"path"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	Position       int64     `json:"chain_position"`
	Since          time.Time `json:"since"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"last_error,omitempty"`
	NextAttempt    time.Time `json:"next_attempt,omitzero"`
	// written is the marker file's modification time (not stored).
	written time.Time
}

func (s *Store) markerPath(kind, id string) string {
	return filepath.Join(s.root, pendingDir, kind, id+".json")
}

func (s *Store) writeMarker(kind string, m pendingMarker) (string, error) {
	p := s.markerPath(kind, m.BundleID)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return "", err
	}
	data, _ := json.MarshalIndent(m, "", "  ")
	tmp := p + ".tmp"
	os.Remove(tmp)
	if _, err := writeFileWith(s.open, tmp, data, 0o640); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", err
	}
	return p, syncOne(filepath.Dir(p))
}

func (s *Store) readMarkers(kind string) []pendingMarker {
	items, _ := os.ReadDir(filepath.Join(s.root, pendingDir, kind))
	var out []pendingMarker
	for _, it := range items {
		if !strings.HasSuffix(it.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.root, pendingDir, kind, it.Name()))
		if err != nil {
			continue
		}
		var m pendingMarker
		if json.Unmarshal(data, &m) == nil && m.BundleID != "" {
			if fi, err := it.Info(); err == nil {
				m.written = fi.ModTime()
			}
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// readMarker returns the marker of kind for a bundle, if any.
func readMarker(root, kind, id string) (pendingMarker, bool) {
	data, err := os.ReadFile(filepath.Join(root, pendingDir, kind, id+".json"))
	if err != nil {
		return pendingMarker{}, false
	}
	var m pendingMarker
	return m, json.Unmarshal(data, &m) == nil
}

func retryBackoff(attempts int) time.Duration {
	d := time.Minute
	for i := 1; i < attempts && d < 6*time.Hour; i++ {
		d *= 2
	}
	return min(d, 6*time.Hour)
}

// stampBundle obtains and stores the token of one bundle: the token file
// (an addendum, written once), then a chain line with its hash, then the
// marker is removed. It returns the token's info.
func (s *Store) stampBundle(ctx context.Context, pm pendingMarker) (TokenInfo, error) {
	dir := filepath.Join(s.root, filepath.FromSlash(pm.Path))
	digest, err := hex.DecodeString(pm.ManifestSHA256)
	if err != nil || len(digest) != 32 {
		return TokenInfo{}, fmt.Errorf("bundle %s: bad manifest hash %q", pm.BundleID, pm.ManifestSHA256)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, ManifestName)); err != nil {
		return TokenInfo{}, fmt.Errorf("bundle %s: %w", pm.BundleID, err)
	} else if sha256Hex(raw) != pm.ManifestSHA256 {
		return TokenInfo{}, fmt.Errorf("bundle %s: manifest changed since capture; not time-stamping it", pm.BundleID)
	}
	tokPath := filepath.Join(dir, TimestampName)
	tok, err := os.ReadFile(tokPath)
	var info TokenInfo
	if err == nil {
		// A token stored before a crash: keep it if it is good.
		var problems []string
		info, problems, err = checkToken(tok, digest, s.tsaRoots, nil)
		if err == nil && len(problems) > 0 {
			err = errors.New(problems[0])
		}
		if err != nil {
			return TokenInfo{}, fmt.Errorf("bundle %s: %s holds a bad token (%v); it is left for inspection", pm.BundleID, TimestampName, err)
		}
		for _, e := range loadChainIndex(s.root).stamps[pm.BundleID] {
			if e.TokenSHA256 == sha256Hex(tok) {
				os.Remove(s.markerPath(markerTimestamp, pm.BundleID))
				return info, nil // already recorded
			}
		}
	} else {
		if s.tsa == nil {
			return TokenInfo{}, errors.New("no TSA configured")
		}
		tok, info, err = s.tsa.stamp(ctx, digest)
		if err != nil {
			pm.Attempts++
			pm.LastError = err.Error()
			s.writeMarker(markerTimestamp, pm)
			return TokenInfo{}, err
		}
		if err := writeAtomic(s.open, tokPath, tok, 0o440); err != nil {
			return TokenInfo{}, s.storeErr(fmt.Errorf("store %s of %s: %w", TimestampName, pm.BundleID, err))
		}
	}
	unlock, err := s.lockChain()
	if err != nil {
		return TokenInfo{}, err
	}
	tsaURL := ""
	if s.tsa != nil {
		tsaURL = s.tsa.url
	}
	err = s.appendEntry(&ChainEntry{Type: EntryTimestamp, BundleID: pm.BundleID, Path: pm.Path, Position: pm.Position,
		ManifestSHA256: pm.ManifestSHA256, TokenSHA256: sha256Hex(tok), TokenTime: info.Time, TSA: tsaURL})
	unlock()
	if err != nil {
		return TokenInfo{}, s.storeErr(err)
	}
	os.Remove(s.markerPath(markerTimestamp, pm.BundleID))
	return info, nil
}

// RetryReport says what RetryPending did.
type RetryReport struct {
	TimestampsStored  int      `json:"timestamps_stored"`
	TimestampsPending int      `json:"timestamps_pending"`
	RendersStored     int      `json:"renders_stored"`
	RendersPending    int      `json:"renders_pending"`
	Errors            []string `json:"errors,omitempty"`
	// Left lists every piece of work still pending after the call, with
	// why it is left and when it is tried next.
	Left []LeftItem `json:"left,omitempty"`
	// Failed counts attempts made in this call that failed.
	Failed int `json:"failed"`
}

// LeftItem is one pending timestamp or rendering left after a retry.
type LeftItem struct {
	BundleID string `json:"bundle_id"`
	// What is "timestamp" or "render".
	What string `json:"what"`
	// Reason says why it was left: not due yet, over the per-call bound,
	// the TSA or Chromium unavailable, rendering disabled, or the error of
	// the attempt just made.
	Reason      string    `json:"reason"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// RetryOptions bounds one retry call.
type RetryOptions struct {
	// MaxRenders bounds the renderings attempted in one call (each takes
	// a second or more of Chromium); 0 means DefaultRetryRenders.
	MaxRenders int
	// IgnoreSchedule attempts renderings whose next attempt is not due
	// yet (an operator asking now, after fixing the cause).
	IgnoreSchedule bool
}

// DefaultRetryRenders is the daemon's per-call bound on renderings.
const DefaultRetryRenders = 3

// RetryPending is RetryPendingWith the daemon's defaults.
func (s *Store) RetryPending(ctx context.Context) (RetryReport, error) {
	return s.RetryPendingWith(ctx, RetryOptions{})
}

// RetryPendingWith completes bundles stored while the TSA or Chromium was
// down: it fetches missing timestamp tokens (stopping at the first TSA
// outage, so a TSA that is down is asked once per call) and re-renders
// captures whose rendering failed and whose next attempt is due (at most
// o.MaxRenders per call, each failure growing the delay before the next
// attempt). The report lists what is left and why. Call it periodically.
func (s *Store) RetryPendingWith(ctx context.Context, o RetryOptions) (RetryReport, error) {
	if o.MaxRenders <= 0 {
		o.MaxRenders = DefaultRetryRenders
	}
	var rep RetryReport
	left := func(pm pendingMarker, what, reason string) {
		rep.Left = append(rep.Left, LeftItem{BundleID: pm.BundleID, What: what, Reason: reason, Attempts: pm.Attempts, NextAttempt: pm.NextAttempt})
	}
	// A crash shortly before a restart leaves temporary folders too young
	// for Open to remove; the periodic retry removes them later.
	s.removeStaleTemps(staleTempAge)
	ts := s.readMarkers(markerTimestamp)
	tsaDown := ""
	for _, pm := range ts {
		switch {
		case ctx.Err() != nil:
			rep.TimestampsPending++
			left(pm, "timestamp", "interrupted: "+ctx.Err().Error())
			continue
		case tsaDown != "":
			rep.TimestampsPending++
			left(pm, "timestamp", "the TSA is unavailable: "+tsaDown)
			continue
		case pm.Attempts == 0 && time.Since(pm.written) < 2*time.Minute:
			// The capture that wrote it is still asking the TSA itself.
			rep.TimestampsPending++
			left(pm, "timestamp", "just captured: the capture itself is still asking the TSA")
			continue
		}
		if _, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(pm.Path), ManifestName)); err != nil {
			if !s.bundleInChain(pm.BundleID) {
				os.Remove(s.markerPath(markerTimestamp, pm.BundleID)) // the capture never completed
				continue
			}
		}
		if _, err := s.stampBundle(ctx, pm); err != nil {
			rep.Failed++
			rep.Errors = append(rep.Errors, fmt.Sprintf("timestamp %s: %v", pm.BundleID, err))
			rep.TimestampsPending++
			left(pm, "timestamp", err.Error())
			if errors.Is(err, ErrTSAUnavailable) {
				tsaDown = err.Error() // ask a TSA that is down once per call
			}
			continue
		}
		rep.TimestampsStored++
	}
	rs := s.readMarkers(markerRender)
	done := 0
	chromium := error(nil)
	if !s.render.Disabled && len(rs) > 0 {
		if chromium = CheckChromium(s.render.ChromiumPath); chromium != nil {
			rep.Errors = append(rep.Errors, "render: "+chromium.Error())
		}
	}
	for _, pm := range rs {
		switch {
		case s.render.Disabled:
			rep.RendersPending++
			left(pm, "render", "rendering is disabled by configuration (evidence.disable_render)")
			continue
		case chromium != nil:
			rep.RendersPending++
			left(pm, "render", chromium.Error())
			continue
		case ctx.Err() != nil:
			rep.RendersPending++
			left(pm, "render", "interrupted: "+ctx.Err().Error())
			continue
		case !o.IgnoreSchedule && s.now().Before(pm.NextAttempt):
			rep.RendersPending++
			left(pm, "render", fmt.Sprintf("not due until %s (attempt %d failed: %s)", pm.NextAttempt.Format(time.RFC3339), pm.Attempts, pm.LastError))
			continue
		case done >= o.MaxRenders:
			rep.RendersPending++
			left(pm, "render", fmt.Sprintf("over this call's bound of %d renderings", o.MaxRenders))
			continue
		}
		done++
		if _, err := s.Rerender(ctx, pm.BundleID); err != nil {
			pm.Attempts++
			pm.LastError = err.Error()
			pm.NextAttempt = s.now().UTC().Add(retryBackoff(pm.Attempts))
			s.writeMarker(markerRender, pm)
			rep.Failed++
			rep.RendersPending++
			rep.Errors = append(rep.Errors, fmt.Sprintf("render %s: %v", pm.BundleID, err))
			left(pm, "render", err.Error())
			continue
		}
		rep.RendersStored++
	}
	if rep.TimestampsStored+rep.RendersStored > 0 || len(rep.Errors) > 0 {
		s.log.Info("evidence retry", zap.Int("timestamps_stored", rep.TimestampsStored), zap.Int("timestamps_pending", rep.TimestampsPending),
			zap.Int("renders_stored", rep.RendersStored), zap.Int("renders_pending", rep.RendersPending), zap.Strings("errors", rep.Errors))
	}
	return rep, nil
}

// bundleMention returns the mention a bundle holds (its mention.json,
// checked against the manifest); false when there is none.
func bundleMention(dir string, man Manifest) (mention.Mention, bool) {
	for _, f := range man.Files {
		if f.Role != RoleMention {
			continue
		}
		data, err := readChecked(dir, f)
		if err != nil {
			return mention.Mention{}, false
		}
		var m mention.Mention
		if json.Unmarshal(data, &m) != nil {
			return mention.Mention{}, false
		}
		return m, true
	}
	return mention.Mention{}, false
}

func (s *Store) bundleInChain(id string) bool {
	entries, _, _, err := ReadChain(s.root)
	if err != nil {
		return true
	}
	for _, e := range entries {
		if e.Type == EntryBundle && e.BundleID == id {
			return true
		}
	}
	return false
}

// Rerender renders the raw bytes of an earlier bundle (id or path) again
// and stores the screenshot, PDF and DOM as a NEW bundle of kind "render"
// whose subject is the earlier bundle; the earlier bundle is never touched.
// The raw bytes are checked against their manifest first: altered evidence
// is not rendered.
func (s *Store) Rerender(ctx context.Context, bundle string) (Result, error) {
	start := time.Now()
	dir, err := s.Resolve(bundle)
	if err != nil {
		return Result{}, err
	}
	subj, raw, err := ReadManifest(dir)
	if err != nil {
		return Result{}, err
	}
	var rawFile, exFile *File
	for i := range subj.Files {
		switch subj.Files[i].Role {
		case RoleRaw:
			rawFile = &subj.Files[i]
		case RoleExchange:
			exFile = &subj.Files[i]
		}
	}
	if rawFile == nil || exFile == nil {
		return Result{}, fmt.Errorf("rerender %s: the bundle holds no raw response", subj.BundleID)
	}
	body, err := readChecked(dir, *rawFile)
	if err != nil {
		return Result{}, fmt.Errorf("rerender %s: %w", subj.BundleID, err)
	}
	exData, err := readChecked(dir, *exFile)
	if err != nil {
		return Result{}, fmt.Errorf("rerender %s: %w", subj.BundleID, err)
	}
	var ex exchange
	if err := json.Unmarshal(exData, &ex); err != nil {
		return Result{}, fmt.Errorf("rerender %s: exchange.json: %w", subj.BundleID, err)
	}
	now := s.now().UTC()
	in := renderInput{URL: ex.FinalURL, RequestURL: ex.RequestURL, Status: ex.StatusCode, Header: http.Header(ex.Header),
		Body: body, NeedsJS: subj.NeedsJS, FetchedAt: ex.FetchedAtUTC, RenderedAt: now, Policy: s.sources[subj.SourceID]}
	if in.URL == "" {
		in.URL = ex.RequestURL
	}
	held, _ := bundleMention(dir, subj)
	in.Mark = markTargetFor(subj.URL, held.Text)
	if s.render.Disabled {
		return Result{}, errors.New("rendering is disabled by configuration")
	}
	if !renderable(ex.Header, body) {
		return Result{}, fmt.Errorf("rerender %s: content type %q is not renderable", subj.BundleID, firstHeader(ex.Header, "Content-Type"))
	}
	out, err := s.renderer.render(ctx, in)
	if err != nil {
		return Result{}, fmt.Errorf("rerender %s: %w", subj.BundleID, err)
	}
	man := Manifest{Format: FormatVersion, Kind: KindRender, BundleID: newBundleID(subj.MentionID, subj.Version, now, "r"),
		MentionID: subj.MentionID, Version: subj.Version, SourceID: subj.SourceID, URL: subj.URL, RequestURL: subj.RequestURL,
		FinalURL: subj.FinalURL, StatusCode: subj.StatusCode, FetchedAt: subj.FetchedAt, CapturedAt: now, Tool: s.tool,
		GoVersion: runtime.Version(), CrawlerUserAgent: subj.CrawlerUserAgent, NeedsJS: subj.NeedsJS,
		Subject: &Link{BundleID: subj.BundleID, ManifestSHA256: sha256Hex(raw), Relation: "rendering-of"}}
	info := out.Info
	man.Render = &info
	d := &draft{man: man, stamp: s.tsa != nil}
	d.addRendering(out, in.NeedsJS)
	rtook := time.Since(start)
	res, err := s.commit(ctx, d)
	res.Duration, res.RenderDuration = time.Since(start), rtook
	if err != nil {
		return res, fmt.Errorf("rerender %s: %w", subj.BundleID, err)
	}
	os.Remove(s.markerPath(markerRender, subj.BundleID))
	return res, nil
}

// readChecked reads a bundle file and checks it against its manifest entry.
func readChecked(dir string, f File) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
	if err != nil {
		return nil, err
	}
	if sha256Hex(data) != f.SHA256 {
		return nil, fmt.Errorf("%s does not match its manifest hash; refusing to use altered evidence", f.Path)
	}
	return data, nil
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
