// Package elastic is the Elasticsearch backend of index.Store.
//
// # Layout
//
// With IndexPrefix P, Setup installs the composable index template
// "P-template" for "P-*" (strict mapping, _meta.mimamori_mapping_version),
// creates the first index "P-000001" behind the write alias "P"
// (is_write_index), and the history index "P-history". Mentions are read
// and searched through the alias; the daemon rolls the alias over itself
// (MaybeRollover, the cluster may have no ILM) and deletes old indices
// (ApplyRetention). Open never changes mappings: a missing or outdated
// template is an error that tells the operator to run
// `mimamori setup elasticsearch`.
//
// # One document per mention across rollovers
//
// A mention's document lives in exactly one backing index: the write index
// of the day it was first indexed. Put locates existing documents before
// writing: a search of the alias by _id tells which index holds each id, then
// a real-time _mget on those indices (and on the current write index for the
// ids the search did not find, which covers documents not yet refreshed)
// returns their current version. A new id is written to the concrete write
// index; an existing id is rewritten in the index that holds it, so a
// rollover never duplicates a document. MaybeRollover refreshes the old index
// after rolling, so the search finds everything that is no longer in the write
// index.
//
// # Versions
//
// Writes use external versioning, so Elasticsearch itself rejects a stale
// replay (409, which Put treats as success). The Elasticsearch _version is
// the mention version shifted left by 24 bits: partial updates (SetStatus,
// last_seen) bump _version by one, and without the gap the next edit of the
// mention would be rejected as stale. When a mention's version goes up, the
// previous document is first written to P-history with id "<id>-v<version>".
//
// # Failures
//
// Put classifies every bulk item: 2xx and 409 are done; 429 and 5xx (and a
// cluster that does not answer) are retried with capped exponential backoff;
// any other 4xx is a dead letter, handed to Options.DeadLetter (or logged)
// without failing the batch. Put returns an error only when items are still
// unwritten after the retries, so the caller keeps them spooled.
package elastic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"go.uber.org/zap"
	"golang.org/x/text/unicode/norm"

	"mimamori/config"
	"mimamori/index"
	"mimamori/internal/backoff"
	"mimamori/mention"
)

var _ index.Store = (*Store)(nil)

// ErrSetupRequired is wrapped by Open's error when the cluster lacks the
// index template, the alias, or has them from another mimamori version.
var ErrSetupRequired = errors.New("run `mimamori setup elasticsearch`")

// ErrUnavailable is wrapped by errors that are worth retrying later: the
// cluster did not answer, or kept answering 429/5xx.
var ErrUnavailable = errors.New("elasticsearch unavailable")

// ErrAnalyzerUnavailable is wrapped by Setup's error when the configured
// analyzer does not exist on the cluster.
var ErrAnalyzerUnavailable = errors.New("analyzer not available on the cluster")

// Options tunes a Store beyond the configuration file.
type Options struct {
	// DeadLetter receives each mention Elasticsearch refused with a 4xx
	// other than 409 and 429 (or that mimamori refused before sending, with
	// status 0). Such mentions are not retried and do not fail Put. When
	// nil, they are logged at error level.
	DeadLetter func(m mention.Mention, status int, reason string)
	// MaxAttempts bounds how often Put sends an item that fails with 429,
	// 5xx or no answer before it gives up and returns an error (default 8).
	MaxAttempts int
	// BackoffMin and BackoffMax bound the delay between attempts (defaults
	// 250ms and 15s; the delay doubles per attempt, with jitter).
	BackoffMin, BackoffMax time.Duration
	// Transport replaces the HTTP transport (TLS settings, proxies).
	Transport http.RoundTripper

	// maxDocs adds a max_docs rollover condition (tests).
	maxDocs int64
	// transportRetries overrides the client's own retries of 429/502/503/504
	// (default 3; -1 disables them, to exercise Put's own retries in tests).
	transportRetries int
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 250 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 15 * time.Second
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	return o
}

// Store is the Elasticsearch index.
type Store struct {
	*conn
	opts Options
	// mu orders Put (shared) against rollover and retention (exclusive), so
	// no Put locates a document in one write index and writes after the
	// alias moved.
	mu sync.RWMutex
}

// Open connects to the cluster and checks that it is Elasticsearch 8.x and
// that Setup installed this version's template and the write alias.
func Open(ctx context.Context, cfg config.ElasticsearchConfig, log *zap.Logger) (*Store, error) {
	return OpenWithOptions(ctx, cfg, log, Options{})
}

// OpenWithOptions is Open with Options.
func OpenWithOptions(ctx context.Context, cfg config.ElasticsearchConfig, log *zap.Logger, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	c, err := newConn(cfg, log, opts)
	if err != nil {
		return nil, err
	}
	if err := c.checkVersion(ctx); err != nil {
		c.close()
		return nil, err
	}
	if err := c.checkTemplate(ctx); err != nil {
		c.close()
		return nil, err
	}
	if _, err := c.writeIndex(ctx); err != nil {
		c.close()
		return nil, err
	}
	return &Store{conn: c, opts: opts}, nil
}

// Close releases the client.
func (s *Store) Close() error {
	s.close()
	return nil
}

// conn is a client bound to one index prefix.
type conn struct {
	es       *elasticsearch.Client
	log      *zap.Logger
	prefix   string
	analyzer string
	cfg      config.ElasticsearchConfig
}

func newConn(cfg config.ElasticsearchConfig, log *zap.Logger, opts Options) (*conn, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if len(cfg.Addresses) == 0 {
		return nil, errors.New("elasticsearch: no addresses configured")
	}
	if cfg.IndexPrefix == "" || strings.ToLower(cfg.IndexPrefix) != cfg.IndexPrefix ||
		strings.ContainsAny(cfg.IndexPrefix, `*?"<>|/\, #:`) {
		return nil, fmt.Errorf("elasticsearch: index prefix %q is not a valid lower-case index name", cfg.IndexPrefix)
	}
	analyzer := cfg.Analyzer
	if analyzer == "" {
		analyzer = "standard"
	}
	switch analyzer {
	case "standard", "cjk", "kuromoji":
	default:
		return nil, fmt.Errorf("elasticsearch: analyzer %q is not standard, cjk or kuromoji", analyzer)
	}
	retries := 3
	if opts.transportRetries != 0 {
		retries = max(opts.transportRetries, 0)
	}
	tr := opts.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
		}
	}
	ecfg := elasticsearch.Config{
		Addresses:     cfg.Addresses,
		RetryOnStatus: []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:    retries,
		DisableRetry:  retries == 0,
		RetryOnError:  func(r *http.Request, _ error) bool { return r.Context().Err() == nil },
		RetryBackoff:  retryPolicy(100*time.Millisecond, 5*time.Second).Delay,
		Transport:     tr,
	}
	if key := cfg.APIKey.Reveal(); key != "" {
		ecfg.APIKey = encodeAPIKey(key)
	} else if cfg.Username != "" {
		ecfg.Username, ecfg.Password = cfg.Username, cfg.Password.Reveal()
	}
	es, err := elasticsearch.NewClient(ecfg)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: create client: %w", err)
	}
	return &conn{es: es, log: log, prefix: cfg.IndexPrefix, analyzer: analyzer, cfg: cfg}, nil
}

// encodeAPIKey accepts the "id:key" form as well as the base64 token
// Elasticsearch prints (the "encoded" field).
func encodeAPIKey(k string) string {
	if strings.Contains(k, ":") {
		return base64.StdEncoding.EncodeToString([]byte(k))
	}
	return k
}

func (c *conn) close() {
	_ = c.es.Close(context.Background())
}

func (c *conn) historyIndex() string  { return c.prefix + "-history" }
func (c *conn) templateName() string  { return c.prefix + "-template" }
func (c *conn) firstIndex() string    { return c.prefix + "-000001" }
func (c *conn) indexPattern() string  { return c.prefix + "-*" }
func (c *conn) retryable(st int) bool { return st == 0 || st == 429 || st >= 500 }

// retryPolicy is the schedule between two attempts of one request: the
// delay doubles from lo up to hi, with equal jitter (half the delay to all
// of it).
func retryPolicy(lo, hi time.Duration) backoff.Policy {
	return backoff.Policy{Initial: lo, Max: hi, JitterBelow: 0.5}
}

// StatusError is an Elasticsearch error answer.
type StatusError struct {
	Method, Path string
	Status       int
	Type, Reason string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("elasticsearch %s %s: %d", e.Method, e.Path, e.Status)
	if e.Type != "" {
		msg += " " + e.Type
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Status == 429 || e.Status >= 500 {
		return msg + " (" + ErrUnavailable.Error() + ")"
	}
	return msg
}

// Is makes 429 and 5xx answers match ErrUnavailable.
func (e *StatusError) Is(target error) bool {
	return target == ErrUnavailable && (e.Status == 429 || e.Status >= 500)
}

// statusOf returns the HTTP status of an error from do, 0 when there was no
// answer.
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "elasticsearch unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() []error {
	return []error{ErrUnavailable, e.err}
}

// errorBody is the error part of an Elasticsearch answer.
type errorBody struct {
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	CausedBy *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"caused_by"`
}

func (e errorBody) String() string {
	s := e.Reason
	if e.CausedBy != nil && e.CausedBy.Reason != "" && !strings.Contains(s, e.CausedBy.Reason) {
		s += " (caused by " + e.CausedBy.Type + ": " + e.CausedBy.Reason + ")"
	}
	return truncate(s, 1000)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// do sends one request. body is nil, []byte (sent as is, NDJSON when
// ndjson) or a value encoded as JSON. out, when not nil, receives the
// decoded 2xx answer. A non-2xx answer is a *StatusError; no answer is an
// error wrapping ErrUnavailable.
func (c *conn) do(ctx context.Context, method, path string, q url.Values, body any, out any) error {
	var rd io.Reader
	var ctype string
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/x-ndjson"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("elasticsearch %s %s: encode request: %w", method, path, err)
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	u := path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("elasticsearch %s %s: %w", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.es.Perform(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("elasticsearch %s %s: %w", method, path, ctx.Err())
		}
		return &unavailableError{fmt.Errorf("%s %s: %w", method, path, err)}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return &unavailableError{fmt.Errorf("%s %s: read answer: %w", method, path, err)}
	}
	if res.StatusCode >= 300 {
		se := &StatusError{Method: method, Path: path, Status: res.StatusCode}
		var eb struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && len(eb.Error) > 0 {
			var b errorBody
			if json.Unmarshal(eb.Error, &b) == nil && b.Type != "" {
				se.Type, se.Reason = b.Type, b.String()
			} else {
				var s string
				if json.Unmarshal(eb.Error, &s) == nil {
					se.Reason = truncate(s, 1000)
				}
			}
		}
		return se
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("elasticsearch %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// retry runs f until it succeeds, fails with an error that is not worth
// retrying, or MaxAttempts is reached.
func (s *Store) retry(ctx context.Context, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !s.retryable(statusOf(err)) || ctx.Err() != nil {
			return err
		}
		if attempt >= s.opts.MaxAttempts {
			return err
		}
		s.log.Warn("elasticsearch request failed, retrying", zap.Int("attempt", attempt), zap.Error(err))
		if serr := retryPolicy(s.opts.BackoffMin, s.opts.BackoffMax).Wait(ctx, attempt); serr != nil {
			return err
		}
	}
}

// doc is a mention as stored: the mention plus fields only for searching.
type doc struct {
	mention.Mention
	// SeverityRank is Severity.Rank(), for range filters.
	SeverityRank int `json:"severity_rank"`
	// SearchText holds NFKC-normalized title and text, so a full-width query
	// finds half-width text and back with any analyzer.
	SearchText []string `json:"search_text,omitempty"`
}

func newDoc(m mention.Mention) doc {
	if m.Categories == nil {
		m.Categories = []string{}
	}
	if m.Targets == nil {
		m.Targets = []string{}
	}
	if m.Matches == nil {
		m.Matches = []mention.Match{}
	}
	if m.Status == "" {
		m.Status = mention.StatusNew
	}
	d := doc{Mention: m, SeverityRank: m.Severity.Rank()}
	for _, s := range []string{m.Title, m.Text} {
		if s != "" {
			d.SearchText = append(d.SearchText, norm.NFKC.String(s))
		}
	}
	return d
}

// hit is where a mention's document is and what it holds.
type hit struct {
	index       string
	doc         doc
	raw         json.RawMessage
	seqNo       int64
	primaryTerm int64
}

// writeIndex returns the concrete index the alias writes to.
func (c *conn) writeIndex(ctx context.Context) (string, error) {
	var res map[string]struct {
		Aliases map[string]struct {
			IsWriteIndex *bool `json:"is_write_index"`
		} `json:"aliases"`
	}
	err := c.do(ctx, http.MethodGet, "/_alias/"+url.PathEscape(c.prefix), nil, nil, &res)
	if statusOf(err) == 404 {
		return "", fmt.Errorf("elasticsearch: the write alias %q does not exist: %w", c.prefix, ErrSetupRequired)
	}
	if err != nil {
		return "", err
	}
	var only string
	for idx, a := range res {
		al, ok := a.Aliases[c.prefix]
		if !ok {
			continue
		}
		if al.IsWriteIndex != nil && *al.IsWriteIndex {
			return idx, nil
		}
		only = idx
	}
	if len(res) == 1 && only != "" {
		return only, nil
	}
	return "", fmt.Errorf("elasticsearch: the alias %q has no write index: %w", c.prefix, ErrSetupRequired)
}

// locate finds the documents of ids (see the package comment) and returns
// them with the current write index.
func (s *Store) locate(ctx context.Context, ids []string) (map[string]hit, string, error) {
	var write string
	found := map[string]string{}
	err := s.retry(ctx, func() error {
		var err error
		if write, err = s.writeIndex(ctx); err != nil {
			return err
		}
		var res struct {
			Shards struct {
				Failed int `json:"failed"`
			} `json:"_shards"`
			Hits struct {
				Hits []struct {
					Index string `json:"_index"`
					ID    string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		body := map[string]any{
			"query":            map[string]any{"ids": map[string]any{"values": ids}},
			"_source":          false,
			"size":             len(ids),
			"track_total_hits": false,
			"sort":             []any{map[string]any{"_index": "desc"}},
		}
		// A partial answer (an older index's shard not yet assigned while the
		// cluster recovers) would hide ids stored there and create second
		// documents in the write index: refuse it and retry.
		q := url.Values{"allow_partial_search_results": {"false"}}
		if err := s.do(ctx, http.MethodPost, "/"+url.PathEscape(s.prefix)+"/_search", q, body, &res); err != nil {
			return err
		}
		if res.Shards.Failed > 0 {
			return &StatusError{Method: http.MethodPost, Path: "/" + s.prefix + "/_search", Status: http.StatusServiceUnavailable,
				Reason: fmt.Sprintf("%d shard(s) failed: ids stored there cannot be located", res.Shards.Failed)}
		}
		clear(found)
		for _, h := range res.Hits.Hits {
			if _, ok := found[h.ID]; !ok { // newest index first
				found[h.ID] = h.Index
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("locate %d mentions: %w", len(ids), err)
	}
	type ref struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	refs := make([]ref, len(ids))
	for i, id := range ids {
		idx, ok := found[id]
		if !ok {
			idx = write
		}
		refs[i] = ref{idx, id}
	}
	var res struct {
		Docs []struct {
			Index       string          `json:"_index"`
			ID          string          `json:"_id"`
			Found       bool            `json:"found"`
			SeqNo       int64           `json:"_seq_no"`
			PrimaryTerm int64           `json:"_primary_term"`
			Source      json.RawMessage `json:"_source"`
			Error       json.RawMessage `json:"error"`
		} `json:"docs"`
	}
	err = s.retry(ctx, func() error {
		return s.do(ctx, http.MethodPost, "/_mget", nil, map[string]any{"docs": refs}, &res)
	})
	if err != nil {
		return nil, "", fmt.Errorf("locate %d mentions: %w", len(ids), err)
	}
	out := make(map[string]hit, len(res.Docs))
	for _, d := range res.Docs {
		if len(d.Error) > 0 && string(d.Error) != "null" {
			// Not "not found": the shard could not answer. Writing now could
			// create a second document; the caller retries later.
			return nil, "", fmt.Errorf("locate mention %s in %s: %s (%w)", d.ID, d.Index, truncate(string(d.Error), 300), ErrUnavailable)
		}
		if !d.Found || len(d.Source) == 0 {
			continue // not there, or the index was deleted since the search
		}
		h := hit{index: d.Index, raw: d.Source, seqNo: d.SeqNo, primaryTerm: d.PrimaryTerm}
		if err := json.Unmarshal(d.Source, &h.doc); err != nil {
			return nil, "", fmt.Errorf("locate mention %s: decode %s: %w", d.ID, d.Index, err)
		}
		out[d.ID] = h
	}
	return out, write, nil
}

// Get returns one mention, wherever it is stored. It reads in real time
// (no refresh needed after Put).
func (s *Store) Get(ctx context.Context, id string) (mention.Mention, error) {
	hits, _, err := s.locate(ctx, []string{id})
	if err != nil {
		return mention.Mention{}, fmt.Errorf("get mention %s: %w", id, err)
	}
	h, ok := hits[id]
	if !ok {
		return mention.Mention{}, fmt.Errorf("get mention %s: %w", id, index.ErrNotFound)
	}
	return h.doc.Mention, nil
}

// SetStatus records the triage state with a partial update of status and
// status_note in the index that holds the mention.
func (s *Store) SetStatus(ctx context.Context, id, status, note string) error {
	if !mention.ValidStatus(status) {
		return fmt.Errorf("set status of %s: %q is not a triage status", id, status)
	}
	hits, _, err := s.locate(ctx, []string{id})
	if err != nil {
		return fmt.Errorf("set status of %s: %w", id, err)
	}
	h, ok := hits[id]
	if !ok {
		return fmt.Errorf("set status of %s: %w", id, index.ErrNotFound)
	}
	body := map[string]any{"doc": map[string]any{"status": status, "status_note": note}}
	q := url.Values{"retry_on_conflict": {"5"}}
	path := "/" + url.PathEscape(h.index) + "/_update/" + url.PathEscape(id)
	err = s.retry(ctx, func() error { return s.do(ctx, http.MethodPost, path, q, body, nil) })
	if statusOf(err) == 404 {
		return fmt.Errorf("set status of %s: %w", id, index.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("set status of %s: %w", id, err)
	}
	return nil
}

// Refresh makes every write so far searchable.
func (s *Store) Refresh(ctx context.Context) error {
	q := url.Values{"ignore_unavailable": {"true"}}
	path := "/" + url.PathEscape(s.prefix) + "," + url.PathEscape(s.historyIndex()) + "/_refresh"
	if err := s.do(ctx, http.MethodPost, path, q, nil, nil); err != nil {
		return fmt.Errorf("refresh %s: %w", s.prefix, err)
	}
	return nil
}

// maxResultWindow is Elasticsearch's default index.max_result_window.
const maxResultWindow = 10000

// Search runs q through the alias: Text is a phrase over title and text
// (and their NFKC forms); the other fields filter. Results are sorted by
// first_seen descending, then id; the total is exact.
func (s *Store) Search(ctx context.Context, q index.Query) ([]mention.Mention, int, error) {
	var filter, must []any
	if t := strings.TrimSpace(q.Text); t != "" {
		must = append(must, map[string]any{"bool": map[string]any{
			"should": []any{
				map[string]any{"match_phrase": map[string]any{"title": t}},
				map[string]any{"match_phrase": map[string]any{"text": t}},
				map[string]any{"match_phrase": map[string]any{"search_text": norm.NFKC.String(t)}},
			},
			"minimum_should_match": 1,
		}})
	}
	term := func(field, v string) {
		if v != "" {
			filter = append(filter, map[string]any{"term": map[string]any{field: v}})
		}
	}
	term("categories", q.Category)
	term("targets", q.Target)
	term("status", q.Status)
	term("source_id", q.SourceID)
	if q.MinSeverity != "" {
		filter = append(filter, map[string]any{"range": map[string]any{"severity_rank": map[string]any{"gte": q.MinSeverity.Rank()}}})
	}
	if q.AlertOnly {
		filter = append(filter, map[string]any{"term": map[string]any{"alert": true}})
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		r := map[string]any{}
		if !q.Since.IsZero() {
			r["gte"] = q.Since.UTC().Format(time.RFC3339Nano)
		}
		if !q.Until.IsZero() {
			r["lt"] = q.Until.UTC().Format(time.RFC3339Nano)
		}
		filter = append(filter, map[string]any{"range": map[string]any{"first_seen": r}})
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, maxResultWindow)
	body := map[string]any{
		"query":            map[string]any{"bool": map[string]any{"filter": orEmpty(filter), "must": orEmpty(must)}},
		"sort":             []any{map[string]any{"first_seen": "desc"}, map[string]any{"id": "asc"}},
		"size":             limit,
		"track_total_hits": true,
		"_source":          map[string]any{"excludes": []string{"search_text", "severity_rank"}},
	}
	var res struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	err := s.retry(ctx, func() error {
		return s.do(ctx, http.MethodPost, "/"+url.PathEscape(s.prefix)+"/_search", nil, body, &res)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("search mentions: %w", err)
	}
	out := make([]mention.Mention, 0, len(res.Hits.Hits))
	for _, h := range res.Hits.Hits {
		var m mention.Mention
		if err := json.Unmarshal(h.Source, &m); err != nil {
			return nil, 0, fmt.Errorf("search mentions: decode: %w", err)
		}
		out = append(out, m)
	}
	return out, res.Hits.Total.Value, nil
}

func orEmpty(xs []any) []any {
	if xs == nil {
		return []any{}
	}
	return xs
}

// extVersion is the Elasticsearch external _version of a mention version
// (see the package comment).
func extVersion(v int) int64 { return int64(v) << versionShift }

const versionShift = 24
