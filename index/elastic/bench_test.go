package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"go.uber.org/zap"

	"mimamori/mention"
)

var benchRun atomic.Int64

// BenchmarkIndex indexes the same b.N mentions through Store.Put (batches of
// 500: locate + _bulk, with versioning) and through a bare
// esutil.BulkIndexer (plain index actions, default workers and flush size),
// each into its own freshly set-up prefix, and reports docs/s for both.
func BenchmarkIndex(b *testing.B) {
	cfg := testConfig(b)
	bareCfg := testConfig(b)
	ctx := context.Background()
	s := setupStore(b, cfg, Options{})
	if err := Setup(ctx, bareCfg, zap.NewNop()); err != nil {
		b.Fatal(err)
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: bareCfg.Addresses})
	if err != nil {
		b.Fatal(err)
	}
	run := benchRun.Add(1)
	gen := func(tag string, n int) []mention.Mention {
		ms := make([]mention.Mention, n)
		for i := range ms {
			text := fmt.Sprintf("株式会社サンプルは詐欺会社だ。対応が遅い、返金しろ。投稿番号%d %s", i, tag)
			m := mk(fmt.Sprintf("bench-%d-%s-%d", run, tag, i), 1, text)
			m.FirstSeen = t0.Add(time.Duration(i) * time.Second)
			ms[i] = m
		}
		return ms
	}
	put := func(ms []mention.Mention) time.Duration {
		start := time.Now()
		for i := 0; i < len(ms); i += 500 {
			if err := s.Put(ctx, ms[i:min(i+500, len(ms))]); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	bare := func(ms []mention.Mention) time.Duration {
		var failed atomic.Int64
		start := time.Now()
		bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: bareCfg.IndexPrefix})
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range ms {
			body, err := json.Marshal(newDoc(m))
			if err != nil {
				b.Fatal(err)
			}
			err = bi.Add(ctx, esutil.BulkIndexerItem{
				Action: "index", DocumentID: m.ID, Body: bytes.NewReader(body),
				OnFailure: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem, error) {
					failed.Add(1)
				},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := bi.Close(ctx); err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		if failed.Load() > 0 || bi.Stats().NumFailed > 0 {
			b.Fatalf("bulk indexer: %d failed", failed.Load())
		}
		return d
	}
	// Warm both paths (JIT, connections) before measuring.
	put(gen("warm", 500))
	bare(gen("warm", 500))

	ms := gen("m", b.N)
	b.ResetTimer()
	bareDur := bare(ms)
	putDur := put(ms)
	b.StopTimer()
	putRate := float64(b.N) / putDur.Seconds()
	bareRate := float64(b.N) / bareDur.Seconds()
	b.ReportMetric(putRate, "put_docs/s")
	b.ReportMetric(bareRate, "bulkindexer_docs/s")
	b.ReportMetric(putRate/bareRate, "put/bulkindexer")
}
