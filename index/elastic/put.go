package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"

	"mimamori/mention"
)

const (
	// roundSize caps the ids located and written per round.
	roundSize = 1000
	// maxBulkBytes caps one _bulk request body (Elasticsearch refuses more
	// than http.max_content_length, 100 MB by default, with 413).
	maxBulkBytes = 8 << 20
	// maxIDBytes leaves room for the history id "<id>-v<version>" within
	// Elasticsearch's 512-byte _id limit.
	maxIDBytes = 480
)

type opKind int

const (
	opMention opKind = iota // the mention itself: a 4xx is a dead letter
	opHistory               // a superseded version: a 4xx is logged
	opTouch                 // last_seen of an unchanged mention: a 4xx is logged
)

// op is one _bulk action with its source line.
type op struct {
	kind   opKind
	action []byte
	source []byte
	m      mention.Mention
}

func (o op) size() int { return len(o.action) + len(o.source) + 2 }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers
	}
	return b
}

// Put writes mentions and returns once Elasticsearch acknowledged them
// (translog fsync'ed). Per id: a version not above the stored one changes
// nothing but last_seen (when later); a higher version replaces the
// document where it is stored, keeps the earliest first_seen and the legal
// team's triage status (unless the mention carries a status other than
// "new"), and the superseded document goes to the history index. Mentions
// Elasticsearch refuses for good go to Options.DeadLetter. Put returns an
// error (wrapping ErrUnavailable when the cluster is the cause) only when
// some mentions may be unwritten; writing them again later is safe.
func (s *Store) Put(ctx context.Context, ms []mention.Mention) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	valid := make([]mention.Mention, 0, len(ms))
	for _, m := range ms {
		if reason := invalid(m); reason != "" {
			s.deadLetter(m, 0, reason)
			continue
		}
		valid = append(valid, m)
	}
	for _, round := range rounds(valid) {
		for len(round) > 0 {
			n := min(len(round), roundSize)
			if err := s.putRound(ctx, round[:n]); err != nil {
				return err
			}
			round = round[n:]
		}
	}
	return nil
}

// invalid says why Elasticsearch would refuse m as a whole request (one bad
// action line fails the whole _bulk) or why it cannot be encoded.
func invalid(m mention.Mention) string {
	switch {
	case m.ID == "":
		return "rejected before sending: empty id"
	case len(m.ID) > maxIDBytes:
		return fmt.Sprintf("rejected before sending: id is %d bytes (at most %d)", len(m.ID), maxIDBytes)
	case m.Version < 0 || m.Version > math.MaxInt32:
		return fmt.Sprintf("rejected before sending: version %d out of range", m.Version)
	}
	if _, err := json.Marshal(newDoc(m)); err != nil {
		return "rejected before sending: " + err.Error()
	}
	return ""
}

// rounds splits ms so that each round has one mention per id, versions of
// an id ascending across rounds (so each superseded version reaches the
// history); an (id, version) given twice is written once.
func rounds(ms []mention.Mention) [][]mention.Mention {
	byID := map[string][]mention.Mention{}
	var order []string
	for _, m := range ms {
		if _, ok := byID[m.ID]; !ok {
			order = append(order, m.ID)
		}
		byID[m.ID] = append(byID[m.ID], m)
	}
	var out [][]mention.Mention
	for _, id := range order {
		vs := byID[id]
		slices.SortStableFunc(vs, func(a, b mention.Mention) int { return a.Version - b.Version })
		k := 0
		for i, m := range vs {
			if i > 0 && m.Version == vs[i-1].Version {
				vs[k-1] = m // the later copy of the same version wins
				continue
			}
			vs[k] = m
			k++
		}
		for r, m := range vs[:k] {
			if r == len(out) {
				out = append(out, nil)
			}
			out[r] = append(out[r], m)
		}
	}
	return out
}

// putRound writes mentions with distinct ids.
func (s *Store) putRound(ctx context.Context, ms []mention.Mention) error {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	hits, write, err := s.locate(ctx, ids)
	if err != nil {
		return fmt.Errorf("index %d mentions: %w", len(ms), err)
	}
	var history, ops []op
	for _, m := range ms {
		h, ok := hits[m.ID]
		switch {
		case !ok:
			ops = append(ops, s.indexOp(write, m))
		case h.doc.Version > m.Version:
			// A stale replay: the stored edit stays.
		case h.doc.Version == m.Version:
			// Same content: move last_seen, and carry a triage change made in
			// the ledger (mimamori triage re-enqueues the same version).
			upd := map[string]any{}
			if m.LastSeen.After(h.doc.LastSeen) {
				upd["last_seen"] = m.LastSeen
			}
			if m.Status != "" && (m.Status != h.doc.Status || m.StatusNote != h.doc.StatusNote) {
				upd["status"], upd["status_note"] = m.Status, m.StatusNote
			}
			if len(upd) > 0 {
				ops = append(ops, op{
					kind: opTouch, m: m,
					action: mustJSON(map[string]any{"update": map[string]any{
						"_index": h.index, "_id": m.ID, "if_seq_no": h.seqNo, "if_primary_term": h.primaryTerm,
					}}),
					source: mustJSON(map[string]any{"doc": upd}),
				})
			}
		default:
			old := h.doc.Mention
			history = append(history, op{
				kind: opHistory, m: old,
				action: mustJSON(map[string]any{"create": map[string]any{
					"_index": s.historyIndex(), "_id": fmt.Sprintf("%s-v%d", old.ID, old.Version),
				}}),
				source: h.raw,
			})
			if old.FirstSeen.Before(m.FirstSeen) {
				m.FirstSeen = old.FirstSeen
			}
			if m.Status == "" || m.Status == mention.StatusNew {
				m.Status, m.StatusNote = old.Status, old.StatusNote
			}
			ops = append(ops, s.indexOp(h.index, m))
		}
	}
	// History first: once the new version is in, nothing would tell a retry
	// that the old one still needs saving.
	if err := s.bulk(ctx, history); err != nil {
		return fmt.Errorf("save %d superseded versions: %w", len(history), err)
	}
	if err := s.bulk(ctx, ops); err != nil {
		return fmt.Errorf("index %d mentions: %w", len(ms), err)
	}
	return nil
}

// indexOp writes m into idx unless a document with the same or a higher
// version is there (external versioning: 409, which is success).
func (s *Store) indexOp(idx string, m mention.Mention) op {
	src, _ := json.Marshal(newDoc(m)) // checked by invalid
	return op{
		kind: opMention, m: m, source: src,
		action: mustJSON(map[string]any{"index": map[string]any{
			"_index": idx, "_id": m.ID, "version": extVersion(m.Version), "version_type": "external",
		}}),
	}
}

func (s *Store) deadLetter(m mention.Mention, status int, reason string) {
	if s.opts.DeadLetter != nil {
		s.opts.DeadLetter(m, status, reason)
		return
	}
	s.log.Error("elasticsearch refused a mention; it will not be retried",
		zap.String("id", m.ID), zap.Int("version", m.Version), zap.Int("status", status), zap.String("reason", reason))
}

// bulk sends ops, retrying items that failed with 429/5xx and requests that
// got no answer, with capped exponential backoff, up to MaxAttempts.
func (s *Store) bulk(ctx context.Context, ops []op) error {
	pending := ops
	for attempt := 1; len(pending) > 0; attempt++ {
		var retry []op
		var lastErr error
		for _, chunk := range chunks(pending) {
			r, err, fatal := s.send(ctx, chunk)
			if fatal != nil {
				return fatal
			}
			if err != nil {
				lastErr = err
			}
			retry = append(retry, r...)
		}
		if len(retry) == 0 {
			return nil
		}
		if lastErr == nil {
			lastErr = ErrUnavailable
		}
		if attempt >= s.opts.MaxAttempts || ctx.Err() != nil {
			return fmt.Errorf("%d of %d writes failed after %d attempts, retry later: %w", len(retry), len(ops), attempt, lastErr)
		}
		s.log.Warn("elasticsearch bulk: retrying", zap.Int("items", len(retry)), zap.Int("attempt", attempt), zap.Error(lastErr))
		if err := retryPolicy(s.opts.BackoffMin, s.opts.BackoffMax).Wait(ctx, attempt); err != nil {
			return fmt.Errorf("%d of %d writes not done: %w (last error: %w)", len(retry), len(ops), err, lastErr)
		}
		pending = retry
	}
	return nil
}

// chunks splits ops into _bulk bodies of at most maxBulkBytes.
func chunks(ops []op) [][]op {
	var out [][]op
	start, n := 0, 0
	for i, o := range ops {
		if i > start && n+o.size() > maxBulkBytes {
			out = append(out, ops[start:i])
			start, n = i, 0
		}
		n += o.size()
	}
	if start < len(ops) {
		out = append(out, ops[start:])
	}
	return out
}

// bulkItem is one item of a _bulk answer.
type bulkItem struct {
	Status int        `json:"status"`
	Error  *errorBody `json:"error"`
}

// send sends one _bulk request. It returns the ops worth retrying (with
// the error that made them so), or fatal when the request itself was
// refused for a reason a retry would not fix.
func (s *Store) send(ctx context.Context, chunk []op) (retry []op, err error, fatal error) {
	var body bytes.Buffer
	for _, o := range chunk {
		body.Write(o.action)
		body.WriteByte('\n')
		body.Write(o.source)
		body.WriteByte('\n')
	}
	var res struct {
		Errors bool                  `json:"errors"`
		Items  []map[string]bulkItem `json:"items"`
	}
	q := url.Values{"filter_path": {"errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by"}}
	err = s.do(ctx, http.MethodPost, "/_bulk", q, body.Bytes(), &res)
	switch st := statusOf(err); {
	case err == nil:
	case st == http.StatusRequestEntityTooLarge && len(chunk) > 1:
		h := len(chunk) / 2
		r1, e1, f1 := s.send(ctx, chunk[:h])
		if f1 != nil {
			return nil, nil, f1
		}
		r2, e2, f2 := s.send(ctx, chunk[h:])
		if f2 != nil {
			return nil, nil, f2
		}
		return append(r1, r2...), errors.Join(e1, e2), nil
	case st == http.StatusRequestEntityTooLarge:
		s.refused(chunk[0], st, "document larger than the cluster's http.max_content_length")
		return nil, nil, nil
	case s.retryable(st):
		return chunk, err, nil
	default:
		return nil, nil, err
	}
	if len(res.Items) != len(chunk) {
		return nil, nil, fmt.Errorf("elasticsearch _bulk: %d items answered for %d sent", len(res.Items), len(chunk))
	}
	for i, item := range res.Items {
		var it bulkItem
		for _, v := range item {
			it = v
		}
		switch {
		case it.Status < 300, it.Status == http.StatusConflict:
			// Written, or already there with this or a newer version.
		case s.retryable(it.Status):
			retry = append(retry, chunk[i])
			err = &StatusError{Method: http.MethodPost, Path: "/_bulk", Status: it.Status, Type: errType(it.Error), Reason: errReason(it.Error)}
		default:
			s.refused(chunk[i], it.Status, errType(it.Error)+": "+errReason(it.Error))
		}
	}
	return retry, err, nil
}

func errType(e *errorBody) string {
	if e == nil {
		return ""
	}
	return e.Type
}

func errReason(e *errorBody) string {
	if e == nil {
		return ""
	}
	return e.String()
}

// refused handles an op Elasticsearch refused for good.
func (s *Store) refused(o op, status int, reason string) {
	reason = strings.TrimPrefix(reason, ": ")
	switch o.kind {
	case opMention:
		s.deadLetter(o.m, status, reason)
	case opHistory:
		s.log.Error("elasticsearch refused a superseded version for the history index",
			zap.String("id", o.m.ID), zap.Int("version", o.m.Version), zap.Int("status", status), zap.String("reason", reason))
	case opTouch:
		// 404: the document went (retention) between locate and update.
		s.log.Debug("last_seen update refused", zap.String("id", o.m.ID), zap.Int("status", status), zap.String("reason", reason))
	}
}
