package evidence

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
	"go.uber.org/zap"
)

// AnchorFile is the append-only record of chain heads under the evidence
// root. Every anchor adds one JSON line naming the head of chain.jsonl at
// that moment (line number, line SHA-256, newest bundle), and each line
// carries the SHA-256 of the line before it. A later chain.jsonl must
// still hold every anchored line: deleting the newest bundles together
// with their chain lines (or rewriting the chain) no longer goes
// unnoticed. With a TSA configured each anchor also carries an RFC 3161
// token, stored under AnchorTokenDir.
const AnchorFile = "chain-heads.jsonl"

// AnchorTokenDir holds the anchors' timestamp tokens
// (<chain seq>-<UTC time>.tsr), each over the SHA-256 of the anchored
// chain line, so `openssl ts -verify -digest <line_sha256>` checks one
// outside mimamori.
const AnchorTokenDir = "chain-heads"

// Why an anchor was taken.
const (
	AnchorSchedule = "schedule"
	AnchorShutdown = "shutdown"
	AnchorCommand  = "command"
)

// Token states of an anchor.
const (
	// AnchorTokenStamped: the token is stored in AnchorToken.File.
	AnchorTokenStamped = "stamped"
	// AnchorTokenFailed: the TSA could not be asked or refused; Error says
	// why. The next anchor asks again (for the head at that time).
	AnchorTokenFailed = "failed"
	// AnchorTokenNone: no TSA is configured.
	AnchorTokenNone = "none"
)

// Anchor is one line of chain-heads.jsonl.
type Anchor struct {
	// N numbers the anchors (1 = first line).
	N      int64     `json:"n"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
	// Head is the chain head anchored: Seq and LineSHA256 name the line
	// of chain.jsonl, the rest the newest bundle.
	Head  Head        `json:"head"`
	Token AnchorToken `json:"token"`
	// PrevLineSHA256 is the SHA-256 of the previous line of
	// chain-heads.jsonl (without its newline); empty for the first.
	PrevLineSHA256 string `json:"prev_line_sha256"`
}

// AnchorToken is the trusted timestamp of an anchor. Its imprint is the
// SHA-256 of the anchored chain line (Head.LineSHA256): the line hashes
// the line before it, so the token vouches for the whole chain up to it.
type AnchorToken struct {
	Status string `json:"status"`
	// File is the token, relative to the evidence root (slash-separated).
	File   string    `json:"file,omitempty"`
	SHA256 string    `json:"sha256,omitempty"`
	Time   time.Time `json:"time,omitzero"`
	TSA    string    `json:"tsa,omitempty"`
	Serial string    `json:"serial,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// AnchorResult says what AnchorHead did.
type AnchorResult struct {
	// Written says a new line was appended to chain-heads.jsonl; Anchor is
	// that line. When nothing was written Anchor is the last line (zero
	// when there is none) and Skipped says why.
	Written bool   `json:"written"`
	Anchor  Anchor `json:"anchor"`
	Skipped string `json:"skipped,omitempty"`
	// TokenError is the TSA failure, if any (the record is written all the
	// same, saying so, unless it would only repeat the last one).
	TokenError string `json:"token_error,omitempty"`
	// Problem is set when the chain visibly no longer holds the head
	// anchored last (it ends before that line, or that line is now the
	// last one and hashes differently): bundles were removed or the chain
	// rewritten. The new head is anchored all the same; evidence
	// verify --chain names what is gone.
	Problem string `json:"problem,omitempty"`
}

func (s *Store) anchorPath() string { return filepath.Join(s.root, AnchorFile) }

// AnchorHead records the current chain head in chain-heads.jsonl (written
// with the chain lock, fsynced, each line hashing the previous one) and,
// with a TSA configured, obtains an RFC 3161 token over the head's line
// hash first, stored as chain-heads/<seq>-<time>.tsr and referenced from
// the record. A TSA that is down does not stop the anchor: the record is
// written with token status "failed" and the error, and the next call
// asks again.
//
// It is a no-op (no new line) when the chain is empty, or when the head is
// the one anchored last and that anchor needs nothing more (it has its
// token, or no TSA is configured). The same holds at shutdown: a second
// line for an unchanged head would prove nothing new. When the last
// anchor of an unchanged head has no token because the TSA failed, the
// token is asked for again and a new line is written only when it is
// obtained. reason (AnchorSchedule, AnchorShutdown, AnchorCommand) is
// recorded in the line; ctx bounds the TSA request (a ctx already done
// returns its error and writes nothing).
func (s *Store) AnchorHead(ctx context.Context, reason string) (AnchorResult, error) {
	var res AnchorResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	unlock, err := s.lockChain()
	if err != nil {
		return res, err
	}
	head, herr := s.ChainHead()
	last, _, _, lerr := readLastAnchor(s.anchorPath())
	unlock()
	if herr != nil {
		return res, fmt.Errorf("anchor chain head: %w", herr)
	}
	if lerr != nil {
		return res, fmt.Errorf("anchor chain head: %w", lerr)
	}
	if last != nil {
		res.Anchor = *last
		switch lh := last.Head; {
		case head.Seq < lh.Seq:
			res.Problem = fmt.Sprintf("%s ends at line %d, before the head anchored at %s (line %d, bundle %s): lines were removed since",
				ChainFile, head.Seq, last.At.Format(time.RFC3339), lh.Seq, lh.BundleID)
		case head.Seq == lh.Seq && head.LineSHA256 != lh.LineSHA256:
			res.Problem = fmt.Sprintf("line %d of %s has sha256 %s, anchored at %s with %s: the chain was rewritten",
				head.Seq, ChainFile, head.LineSHA256, last.At.Format(time.RFC3339), lh.LineSHA256)
		}
		if res.Problem != "" {
			s.log.Error("evidence chain no longer holds the head anchored last", zap.String("problem", res.Problem))
		}
	}
	if head.Seq == 0 {
		res.Skipped = "the chain is empty"
		return res, nil
	}
	sameHead := last != nil && last.Head.Seq == head.Seq && last.Head.LineSHA256 == head.LineSHA256
	if sameHead && (s.tsa == nil || last.Token.Status == AnchorTokenStamped) {
		res.Skipped = fmt.Sprintf("head unchanged since anchor %d", last.N)
		return res, nil
	}
	now := s.now().UTC()
	tok := AnchorToken{Status: AnchorTokenNone}
	if s.tsa != nil {
		tok = s.anchorToken(ctx, head, now)
		if tok.Status != AnchorTokenStamped {
			res.TokenError = tok.Error
			if sameHead {
				res.Skipped = fmt.Sprintf("head unchanged since anchor %d, whose token is still missing: %s", last.N, tok.Error)
				return res, nil
			}
		}
	}
	rec := &Anchor{At: now, Reason: reason, Head: head, Token: tok}
	unlock, err = s.lockChain()
	if err != nil {
		return res, err
	}
	err = s.appendAnchor(rec)
	unlock()
	if err != nil {
		return res, fmt.Errorf("anchor chain head: %w", diskFull(err))
	}
	res.Written, res.Anchor = true, *rec
	fields := []zap.Field{zap.Int64("anchor", rec.N), zap.String("reason", reason), zap.Int64("seq", head.Seq),
		zap.String("line_sha256", head.LineSHA256), zap.Int64("position", head.Position), zap.String("bundle", head.BundleID),
		zap.String("token", tok.Status)}
	if tok.Error != "" {
		s.log.Warn("evidence chain head anchored without a trusted timestamp; the next anchor asks again", append(fields, zap.String("token_error", tok.Error))...)
	} else {
		s.log.Info("evidence chain head anchored", fields...)
	}
	return res, nil
}

// anchorToken asks the TSA for a token over the head's line hash and
// stores it; failures come back as a token with status "failed".
func (s *Store) anchorToken(ctx context.Context, head Head, now time.Time) AnchorToken {
	tok := AnchorToken{Status: AnchorTokenFailed, TSA: s.tsa.url}
	digest, err := hex.DecodeString(head.LineSHA256)
	if err != nil || len(digest) != 32 {
		tok.Error = fmt.Sprintf("bad line hash %q", head.LineSHA256)
		return tok
	}
	der, info, err := s.tsa.stamp(ctx, digest)
	if err != nil {
		tok.Error = err.Error()
		return tok
	}
	rel := path.Join(AnchorTokenDir, fmt.Sprintf("%d-%s.tsr", head.Seq, now.Format("20060102T150405.000Z")))
	if err := os.MkdirAll(filepath.Join(s.root, AnchorTokenDir), 0o750); err != nil {
		tok.Error = diskFull(err).Error()
		return tok
	}
	if err := writeAtomic(s.open, filepath.Join(s.root, filepath.FromSlash(rel)), der, 0o440); err != nil {
		tok.Error = fmt.Sprintf("store %s: %v", rel, diskFull(err))
		return tok
	}
	return AnchorToken{Status: AnchorTokenStamped, File: rel, SHA256: sha256Hex(der), Time: info.Time, TSA: s.tsa.url, Serial: info.Serial}
}

// appendAnchor appends rec to chain-heads.jsonl; the caller holds the
// chain lock. It fills N and PrevLineSHA256. A torn last line (a crash
// mid-append) is cut off first; on failure the file is truncated back.
func (s *Store) appendAnchor(rec *Anchor) error {
	p := s.anchorPath()
	last, lastRaw, end, err := readLastAnchor(p)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(p); err == nil && fi.Size() != end {
		if err := os.Truncate(p, end); err != nil {
			return err
		}
	}
	rec.N, rec.PrevLineSHA256 = 1, ""
	if last != nil {
		rec.N = last.N + 1
		rec.PrevLineSHA256 = sha256Hex(lastRaw)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := s.open(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return diskFull(err)
	}
	_, werr := f.Write(append(line, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Truncate(p, end)
		return diskFull(fmt.Errorf("append to %s: %w", AnchorFile, werr))
	}
	if end == 0 {
		return diskFull(syncOne(s.root))
	}
	return nil
}

// readLastAnchor returns the last complete line of chain-heads.jsonl, its
// raw bytes and where it ends (nil, nil, 0 when there is none).
func readLastAnchor(p string) (*Anchor, []byte, int64, error) {
	line, end, err := lastLine(p)
	if err != nil || line == nil {
		return nil, nil, end, err
	}
	var a Anchor
	if err := json.Unmarshal(line, &a); err != nil {
		return nil, line, end, fmt.Errorf("%s: last line is not valid JSON: %w", AnchorFile, err)
	}
	return &a, line, end, nil
}

// ReadAnchors returns every complete line of chain-heads.jsonl under root,
// oldest first; a torn last line is reported in torn. A line that is not
// valid JSON stops the read with an error naming it.
func ReadAnchors(root string) (anchors []Anchor, raws [][]byte, torn bool, err error) {
	return readJSONLines[Anchor](root, AnchorFile)
}

// AnchorReport says which recorded heads VerifyChain checked the chain
// against.
type AnchorReport struct {
	// Records counts the lines of chain-heads.jsonl; Checked those whose
	// head was compared with the chain (all of them unless the file is
	// unreadable).
	Records int `json:"records"`
	Checked int `json:"checked"`
	// Timestamped counts records whose token verified; Untimestamped
	// those stored without one (TSA failed or none configured).
	Timestamped   int `json:"timestamped"`
	Untimestamped int `json:"untimestamped"`
	// Newest is the record of the highest chain line (the latest such).
	Newest *Anchor `json:"newest,omitempty"`
	// NewestToken is Newest's verified token, if it has one.
	NewestToken *TokenInfo `json:"newest_token,omitempty"`
	// Expected says a head given by the caller (--head) was checked too.
	Expected *Head `json:"expected,omitempty"`
}

// anchorName names a record in problems: which anchor, which head, when,
// and whether a TSA vouches for it.
func anchorName(a Anchor, stamped bool) string {
	how := "not timestamped"
	if stamped {
		how = "timestamped by TSA " + a.Token.Time.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("recorded head %d (line %d, bundle %s at position %d, anchored %s, %s)",
		a.N, a.Head.Seq, a.Head.BundleID, a.Head.Position, a.At.UTC().Format(time.RFC3339), how)
}

// verifyAnchors checks chain-heads.jsonl under root: its own hash chain,
// every recorded head against the chain (the line must exist with the
// same hash), every token (file hash, signature, imprint = the line hash,
// and the chain to roots when given), and token files no record names.
func verifyAnchors(root string, idx *chainIndex, roots *x509.CertPool, rep *ChainReport) {
	add := func(p, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{p, fmt.Sprintf(format, args...)})
	}
	ar := &rep.Anchors
	anchors, raws, torn, err := ReadAnchors(root)
	ar.Records = len(anchors)
	if err != nil {
		add(AnchorFile, "%v: the record of chain heads was altered", err)
	}
	if torn {
		rep.Notes = append(rep.Notes, "the last line of "+AnchorFile+" is incomplete (a crash during an anchor); it is ignored and cut off by the next anchor")
	}
	referenced := map[string]bool{}
	lines := len(idx.raws)
	for i, a := range anchors {
		line := fmt.Sprintf("%s line %d", AnchorFile, i+1)
		if a.N != int64(i+1) {
			add(line, "anchor number %d, expected %d (a record was removed or inserted)", a.N, i+1)
		}
		want := ""
		if i > 0 {
			want = sha256Hex(raws[i-1])
		}
		if a.PrevLineSHA256 != want {
			add(line, "prev_line_sha256 %s does not match the line before (%s): a record was changed, removed or inserted", a.PrevLineSHA256, want)
		}
		var info *TokenInfo
		if a.Token.Status == AnchorTokenStamped {
			referenced[a.Token.File] = true
			info = checkAnchorToken(root, a, roots, func(format string, args ...any) {
				add(line, "token of "+anchorName(a, false)+": "+format, args...)
			})
		}
		if info != nil {
			ar.Timestamped++
		} else {
			ar.Untimestamped++
		}
		name := anchorName(a, info != nil)
		ar.Checked++
		h := a.Head
		switch {
		case h.Seq < 1:
			add(line, "%s names no chain line", name)
		case h.Seq > int64(lines):
			add(ChainFile, "%s is not in the chain, which has %d lines: bundles were removed from the end of the chain after it was anchored", name, lines)
		case sha256Hex(idx.raws[h.Seq-1]) != h.LineSHA256:
			add(ChainFile, "line %d has sha256 %s, %s says %s: the chain was rewritten after it was anchored", h.Seq, sha256Hex(idx.raws[h.Seq-1]), name, h.LineSHA256)
		case idx.entries[h.Seq-1].Head != h.HeadRef:
			add(line, "%s names bundle %s at position %d, the chain line holds bundle %s at position %d", name,
				h.BundleID, h.Position, idx.entries[h.Seq-1].Head.BundleID, idx.entries[h.Seq-1].Head.Position)
		}
		if ar.Newest == nil || h.Seq >= ar.Newest.Head.Seq {
			ar.Newest, ar.NewestToken = &anchors[i], info
		}
	}
	// Tokens no record names: an anchor interrupted between storing its
	// token and its record, or records removed from chain-heads.jsonl.
	items, _ := os.ReadDir(filepath.Join(root, AnchorTokenDir))
	lineHashes := map[string]int64{}
	for _, it := range items {
		rel := path.Join(AnchorTokenDir, it.Name())
		if it.IsDir() || strings.HasPrefix(it.Name(), ".") || !strings.HasSuffix(it.Name(), ".tsr") || referenced[rel] {
			continue
		}
		if len(lineHashes) == 0 {
			for i, raw := range idx.raws {
				lineHashes[sha256Hex(raw)] = int64(i + 1)
			}
		}
		der, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			add(rel, "unreadable: %v", err)
			continue
		}
		ts, err := timestamp.ParseResponse(der)
		if err != nil {
			add(rel, "not a valid timestamp token: %v", err)
			continue
		}
		sum := hex.EncodeToString(ts.HashedMessage)
		if seq, ok := lineHashes[sum]; ok {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s (a token of chain line %d at %s) is named by no record of %s: an anchor interrupted before its record was written?",
				rel, seq, ts.Time.UTC().Format(time.RFC3339), AnchorFile))
			continue
		}
		add(rel, "a TSA token of %s time-stamps a chain line with sha256 %s at %s that the chain does not hold (and no record of %s names it): lines were removed or rewritten after it was anchored",
			AnchorTokenDir, sum, ts.Time.UTC().Format(time.RFC3339), AnchorFile)
	}
}

// checkAnchorToken checks the token a record names; it returns its info
// when it verified (nil after reporting the problems through add).
func checkAnchorToken(root string, a Anchor, roots *x509.CertPool, add func(format string, args ...any)) *TokenInfo {
	clean := path.Clean(a.Token.File)
	if a.Token.File == "" || !strings.HasPrefix(clean, AnchorTokenDir+"/") {
		add("file %q is not under %s/", a.Token.File, AnchorTokenDir)
		return nil
	}
	der, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(clean)))
	if err != nil {
		add("%s: %v", clean, err)
		return nil
	}
	if got := sha256Hex(der); got != a.Token.SHA256 {
		add("%s has sha256 %s, the record says %s", clean, got, a.Token.SHA256)
		return nil
	}
	digest, err := hex.DecodeString(a.Head.LineSHA256)
	if err != nil || len(digest) != 32 {
		add("the record's line hash %q is not a SHA-256", a.Head.LineSHA256)
		return nil
	}
	info, problems, err := checkToken(der, digest, roots, nil)
	if err != nil {
		add("%s: %v", clean, err)
		return nil
	}
	for _, p := range problems {
		add("%s: %s", clean, strings.Replace(p, "the manifest's SHA-256", "the anchored line's SHA-256", 1))
	}
	if len(problems) > 0 {
		return nil
	}
	if !info.Time.Equal(a.Token.Time) {
		add("%s: token time %s, the record says %s", clean, info.Time.Format(time.RFC3339), a.Token.Time.Format(time.RFC3339))
		return nil
	}
	return &info
}
