package crawler

import (
	"context"
	"fmt"
	"sync"
)

// StateStore keeps crawl state across restarts: per source, small string
// values under string keys (cursors, the last post seen in a thread, HTTP
// validators, back-off and failure times). *ledger.Ledger implements it.
type StateStore interface {
	// GetState returns the value of key for a source; ok is false when
	// none was stored.
	GetState(ctx context.Context, sourceID, key string) (value string, ok bool, err error)
	// PutState stores a value durably; an empty value may delete the key.
	PutState(ctx context.Context, sourceID, key, value string) error
}

// State keys. Values that advance the reading position (validators, last
// post, since) are saved only by a Batch's Commit, after the posts were
// accepted; back-off and health are saved at once.
const (
	// keyPagePrefix + URL: the page's validators and next link (JSON).
	keyPagePrefix = "page:"
	// keyLastPrefix + thread URL: the highest post number seen.
	keyLastPrefix = "last:"
	// keySince: the highest item id seen (json incremental, since_param).
	keySince = "since"
	// keyBackoff: RFC 3339 time before which the source does not run.
	keyBackoff = "backoff_until"
	// keyFailingSince: RFC 3339 start of the current failing streak.
	keyFailingSince = "failing_since"
	// keyFailingNotified: "1" once OnFailing was called for the streak.
	keyFailingNotified = "failing_notified"
)

// MemoryState is a StateStore in memory, for tests and for running without
// a ledger (state is then lost on restart).
type MemoryState struct {
	mu sync.Mutex
	m  map[[2]string]string
}

var _ StateStore = (*MemoryState)(nil)

// NewMemoryState returns an empty in-memory store.
func NewMemoryState() *MemoryState { return &MemoryState{m: map[[2]string]string{}} }

// GetState implements StateStore.
func (m *MemoryState) GetState(_ context.Context, sourceID, key string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[[2]string{sourceID, key}]
	return v, ok, nil
}

// PutState implements StateStore; an empty value deletes the key.
func (m *MemoryState) PutState(_ context.Context, sourceID, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if value == "" {
		delete(m.m, [2]string{sourceID, key})
		return nil
	}
	m.m[[2]string{sourceID, key}] = value
	return nil
}

// Snapshot returns a copy of one source's state (tests, debugging).
func (m *MemoryState) Snapshot(sourceID string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.m {
		if k[0] == sourceID {
			out[k[1]] = v
		}
	}
	return out
}

// pending collects the state one pass advanced, to be saved by Commit.
type pending struct {
	mu   sync.Mutex
	keys []string
	vals map[string]string
}

func (p *pending) put(key, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.vals == nil {
		p.vals = map[string]string{}
	}
	if _, ok := p.vals[key]; !ok {
		p.keys = append(p.keys, key)
	}
	p.vals[key] = value
}

func (p *pending) get(key string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.vals[key]
	return v, ok
}

// commitFunc returns the Commit of a Batch, nil when nothing changed.
func (p *pending) commitFunc(store StateStore, sourceID string) func(ctx context.Context) error {
	p.mu.Lock()
	keys := append([]string(nil), p.keys...)
	vals := make(map[string]string, len(p.vals))
	for k, v := range p.vals {
		vals[k] = v
	}
	p.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	// Idempotent: a failed commit may be retried.
	return func(ctx context.Context) error {
		for _, k := range keys {
			if err := store.PutState(ctx, sourceID, k, vals[k]); err != nil {
				return fmt.Errorf("source %s: save crawl state %s: %w", sourceID, k, err)
			}
		}
		return nil
	}
}
