package detect

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mimamori/bench/detect/corpus"
	"mimamori/mention"
)

var (
	genOnce  sync.Once
	genPosts []string
	genTerms []string
	genBytes int64
)

// generatedPosts returns about 4 MB of generated posts (the grep-compare
// corpus generator, same seed) carrying the 5,000 generated terms in 3% of
// the posts.
func generatedPosts() ([]string, []string, int64) {
	genOnce.Do(func() {
		genTerms = corpus.Patterns(5000, 1)
		var b bytes.Buffer
		if _, err := corpus.WriteCorpus(&b, 4<<20, 2, genTerms, 0.03); err != nil {
			panic(err)
		}
		genBytes = int64(b.Len())
		genPosts = strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	})
	return genPosts, genTerms, genBytes
}

func BenchmarkNormalizeCorpus(b *testing.B) {
	initNFKCTables()
	posts, _, size := generatedPosts()
	var n normText
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range posts {
			n.normalize(p)
		}
	}
}

func BenchmarkScanCorpus(b *testing.B) {
	posts, terms, _ := generatedPosts()
	var pats []string
	var nt normText
	seen := map[string]bool{}
	for _, t := range terms {
		nt.normalize(t)
		if k := string(nt.buf); !seen[k] {
			seen[k] = true
			pats = append(pats, k)
		}
	}
	a, err := buildAutomaton(pats)
	if err != nil {
		b.Fatal(err)
	}
	var bufs [][]byte
	size := 0
	for _, p := range posts {
		nt.normalize(p)
		bufs = append(bufs, append([]byte(nil), nt.buf...))
		size += len(nt.buf)
	}
	b.SetBytes(int64(size))
	var dst []acMatch
	for b.Loop() {
		for _, buf := range bufs {
			dst = a.scan(buf, dst[:0])
		}
	}
}

// BenchmarkDetect5000 measures the detector with the 5,000 generated terms
// as a user pattern pack (no default pack) on the generated corpus, one
// post at a time: the `go test -bench` half of bench/detect/grep-compare.sh.
// Run it on one core: GOMAXPROCS=1 go test -bench Detect5000 -run XXX.
func BenchmarkDetect5000(b *testing.B) {
	posts, terms, size := generatedPosts()
	pack, err := corpus.Pack(terms)
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "pack.yaml")
	if err := os.WriteFile(p, pack, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"user5000", Options{PatternFiles: []string{p}, NoDefaultPack: true}},
		{"default", Options{}},
		{"default+user5000", Options{PatternFiles: []string{p}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d, err := New(corpusTargets, bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for _, p := range posts {
					d.Detect(p)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(posts)), "ns/post")
		})
	}
}

var corpusTargets = []mention.Target{
	{ID: "asagi", Kind: mention.KindCompany, Name: corpus.CompanyName, Aliases: []string{corpus.CompanyAlias, "アサギ", corpus.CompanyLatin}},
	{ID: "staff-morimoto", Kind: mention.KindStaff, Name: corpus.StaffName, Aliases: []string{corpus.StaffAlias, "Morimoto"}},
}

// sizedPost returns an abusive post padded with neutral sentences to about
// n bytes: the matches stay the same whatever n is.
func sizedPost(n int) string {
	const head = "アクメ通信の山田って店員、マジで無能。クビにしろ。"
	const filler = "今日は天気が良かったので駅前まで歩いて、公園のベンチで本を読みました。"
	var b strings.Builder
	b.WriteString(head)
	for b.Len() < n {
		b.WriteString(filler)
	}
	return b.String()
}

// BenchmarkDetectAllocs shows that allocations per post do not grow with
// the text: a 1 KB and a 64 KB post with the same matches allocate the
// same (the verdict's slices and strings); the normalization and matching
// buffers are reused through a sync.Pool.
func BenchmarkDetectAllocs(b *testing.B) {
	d, err := New(benchTargets, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1 << 10, 64 << 10} {
		text := sizedPost(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			d.Detect(text) // grow the pooled buffers once
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				d.Detect(text)
			}
		})
	}
}

func TestAllocsDoNotGrowWithText(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	d, err := New(benchTargets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	small, large := sizedPost(1<<10), sizedPost(64<<10)
	vs, vl := d.Detect(small), d.Detect(large)
	if len(vs.Matches) != len(vl.Matches) || len(vs.Matches) == 0 {
		t.Fatalf("the padded posts should match alike: %d vs %d matches", len(vs.Matches), len(vl.Matches))
	}
	as := testing.AllocsPerRun(50, func() { d.Detect(small) })
	al := testing.AllocsPerRun(50, func() { d.Detect(large) })
	t.Logf("allocations per post: 1 KB %.1f, 64 KB %.1f", as, al)
	if al > as+1 {
		t.Errorf("a 64 KB post allocates %.1f times, a 1 KB post %.1f: allocations grow with the text", al, as)
	}
}
