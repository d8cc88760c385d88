// Package mention holds the domain types every pipeline stage speaks: the
// crawled Post, the configured Target, the detector's Verdict and the stored
// Mention, plus the deterministic mention id. It imports nothing of ours.
package mention

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
)

// TargetKind says what a target is.
type TargetKind string

// Target kinds, from the design.
const (
	KindCompany TargetKind = "company"
	KindStaff   TargetKind = "staff"
	KindProduct TargetKind = "product"
)

// Target is a company, product or staff member that mimamori watches over.
type Target struct {
	ID      string     `json:"id" mapstructure:"id"`
	Kind    TargetKind `json:"kind" mapstructure:"kind"`
	Name    string     `json:"name" mapstructure:"name"`
	Aliases []string   `json:"aliases,omitempty" mapstructure:"aliases"`
	// Context lists words one of which must appear in the post for an
	// ambiguous alias (a common surname) to count.
	Context []string `json:"context,omitempty" mapstructure:"context"`
	// Exclude lists phrases that, when they contain the alias hit, cancel it
	// (another company with a similar name, a famous namesake).
	Exclude []string `json:"exclude,omitempty" mapstructure:"exclude"`
	// Contacts are e-mail addresses told when this staff member is
	// attacked (their manager, HR), for routes with to_staff_contacts.
	Contacts []string `json:"-" mapstructure:"contacts"`
}

// Severity orders how urgent an alert is.
type Severity string

// Severities, lowest first.
const (
	SeverityInfo     Severity = "info"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Rank returns a number that grows with severity (info = 0).
func (s Severity) Rank() int {
	switch s {
	case SeverityMedium:
		return 1
	case SeverityHigh:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Valid reports whether s is one of the known severities.
func (s Severity) Valid() bool {
	switch s {
	case SeverityInfo, SeverityMedium, SeverityHigh, SeverityCritical:
		return true
	}
	return false
}

// Post is one item a source produced: a forum post, a feed entry, a review.
// Raw and Headers are the HTTP response exactly as received, kept for
// evidence; several posts from one page share them.
type Post struct {
	SourceID  string    `json:"source_id"`
	Permalink string    `json:"permalink"`
	Author    string    `json:"author,omitempty"`
	Published time.Time `json:"published,omitzero"`
	Title     string    `json:"title,omitempty"`
	Text      string    `json:"text"`

	Fetch *Fetch `json:"-"`
}

// Fetch describes the HTTP exchange a post was extracted from.
type Fetch struct {
	RequestURL string      `json:"request_url"`
	FinalURL   string      `json:"final_url"`
	Method     string      `json:"method"`
	StatusCode int         `json:"status_code"`
	Proto      string      `json:"proto,omitempty"`
	Header     http.Header `json:"header"`
	// RequestHeader is what we sent (User-Agent and so on), never secrets.
	RequestHeader http.Header `json:"request_header,omitempty"`
	FetchedAt     time.Time   `json:"fetched_at"`
	Body          []byte      `json:"-"`
	// TLSPeerCertificates is the server's certificate chain (DER, leaf
	// first) when the page came over https, for evidence.
	TLSPeerCertificates [][]byte `json:"-"`
}

// ID returns the deterministic mention id of a post: a hash of the source id
// and the permalink, so a re-crawl of the same post always lands on the same
// mention.
func ID(sourceID, permalink string) string {
	h := sha256.Sum256([]byte(sourceID + "\x00" + permalink))
	return hex.EncodeToString(h[:16])
}

// Match is one abusive-pattern hit. Start and End are rune offsets into the
// original text.
type Match struct {
	Category string `json:"category"`
	Rule     string `json:"rule"`
	Term     string `json:"term"`
	Start    int    `json:"start"`
	End      int    `json:"end"`
	// Target is the id of the target the hit applies to, empty when none.
	Target string `json:"target,omitempty"`
}

// Verdict is the detector's decision on one text.
type Verdict struct {
	Alert       bool     `json:"alert"`
	Severity    Severity `json:"severity"`
	Score       float64  `json:"score"`
	Categories  []string `json:"categories"`
	Targets     []string `json:"targets"`
	Matches     []Match  `json:"matches"`
	Explanation string   `json:"explanation,omitempty"`
}

// EvidenceRef points at the evidence bundle captured for a mention.
type EvidenceRef struct {
	BundleID       string `json:"bundle_id"`
	Path           string `json:"path"`
	ManifestSHA256 string `json:"manifest_sha256"`
	RawSHA256      string `json:"raw_sha256"`
}

// Triage statuses the legal team sets.
const (
	StatusNew           = "new"
	StatusReviewing     = "reviewing"
	StatusEscalated     = "escalated"
	StatusClosed        = "closed"
	StatusFalsePositive = "false_positive"
)

// ValidStatus reports whether s is a triage status.
func ValidStatus(s string) bool {
	switch s {
	case StatusNew, StatusReviewing, StatusEscalated, StatusClosed, StatusFalsePositive:
		return true
	}
	return false
}

// Mention is a post as stored and indexed: the post, the verdict, where its
// evidence lives and its triage state.
type Mention struct {
	ID        string    `json:"id"`
	SourceID  string    `json:"source_id"`
	Site      string    `json:"site"`
	URL       string    `json:"url"`
	Author    string    `json:"author,omitempty"`
	Title     string    `json:"title,omitempty"`
	Text      string    `json:"text"`
	Published time.Time `json:"published,omitzero"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Version counts content changes: 1 when first seen, +1 per edit.
	Version     int    `json:"version"`
	ContentHash string `json:"content_hash"`

	Alert      bool     `json:"alert"`
	Severity   Severity `json:"severity"`
	Score      float64  `json:"score"`
	Categories []string `json:"categories"`
	Targets    []string `json:"targets"`
	// TargetKinds lists the kinds of Targets (staff, company, product), so
	// the legal team can filter attacks on staff.
	TargetKinds []string `json:"target_kinds,omitempty"`
	Matches     []Match  `json:"matches"`
	Explanation string   `json:"explanation,omitempty"`

	Evidence *EvidenceRef `json:"evidence,omitempty"`

	Status     string `json:"status"`
	StatusNote string `json:"status_note,omitempty"`
}

// ContentHash returns the hash that decides whether a post was edited.
func ContentHash(title, text, author string) string {
	h := sha256.Sum256([]byte(title + "\x00" + text + "\x00" + author))
	return hex.EncodeToString(h[:])
}
