// Benchmark: bleve v2 (cjk analyzer, scorch) vs modernc.org/sqlite FTS5 over
// Go-side NFKC+bigram tokens, on a synthetic Japanese corpus.
//
//	go run . [-n 20000] [-build=true] [-rounds 5]
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

var (
	flagN      = flag.Int("n", 20000, "documents")
	flagSeed   = flag.Int64("seed", 42, "corpus seed")
	flagRounds = flag.Int("rounds", 5, "timed passes over the query set")
	flagBatch  = flag.Int("batch", 500, "docs per batch/transaction")
	flagBuild  = flag.Bool("build", true, "also measure go build times")
	flagWork   = flag.String("work", "_work", "scratch dir (indexes, build caches); removed at the end unless -keep")
	flagKeep   = flag.Bool("keep", false, "keep scratch dir")
)

func dirSize(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

type qres struct {
	truth, hits, tp int
}

func (r qres) recall() float64 {
	if r.truth == 0 {
		return 1
	}
	return float64(r.tp) / float64(r.truth)
}
func (r qres) precision() float64 {
	if r.hits == 0 {
		return 1
	}
	return float64(r.tp) / float64(r.hits)
}

type result struct {
	name           string
	buildDur       time.Duration
	docsPerSec     float64
	size           int64
	p50, p95, max  time.Duration
	allP50, allP95 time.Duration // fetch every matching id
	perQuery       []qres
	prefix1        qres // 1-char query via prefix fallback
	macroR, macroP float64
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}

func score(ids []int, truth map[int]bool) qres {
	r := qres{truth: len(truth), hits: len(ids)}
	for _, id := range ids {
		if truth[id] {
			r.tp++
		}
	}
	return r
}

func run(name string, docs []string, truth []map[int]bool, oneChar int,
	build func(string) error, open func(string, bool) (engine, error)) result {
	path := filepath.Join(*flagWork, name)
	runtime.GC()
	t0 := time.Now()
	if err := build(path); err != nil {
		log.Fatalf("%s build: %v", name, err)
	}
	res := result{name: name, buildDur: time.Since(t0)}
	res.docsPerSec = float64(len(docs)) / res.buildDur.Seconds()
	res.size = dirSize(path)

	e, err := open(path, false)
	if err != nil {
		log.Fatal(err)
	}
	// warm-up pass (page cache, lazy segment loading)
	for _, q := range queries {
		if _, _, err := e.top(q, 20); err != nil {
			log.Fatalf("%s %q: %v", name, q, err)
		}
	}
	var lat []time.Duration
	for r := 0; r < *flagRounds; r++ {
		for _, q := range queries {
			t := time.Now()
			if _, _, err := e.top(q, 20); err != nil {
				log.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
	}
	res.p50, res.p95, res.max = pct(lat, .5), pct(lat, .95), pct(lat, 1)
	lat = lat[:0]
	for r := 0; r < *flagRounds; r++ {
		for _, q := range queries {
			t := time.Now()
			if _, err := e.all(q); err != nil {
				log.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
	}
	res.allP50, res.allP95 = pct(lat, .5), pct(lat, .95)
	for i, q := range queries {
		ids, err := e.all(q)
		if err != nil {
			log.Fatal(err)
		}
		qr := score(ids, truth[i])
		res.perQuery = append(res.perQuery, qr)
		res.macroR += qr.recall() / float64(len(queries))
		res.macroP += qr.precision() / float64(len(queries))
	}
	e.close()
	pe, err := open(path, true)
	if err != nil {
		log.Fatal(err)
	}
	ids, err := pe.all(queries[oneChar])
	if err != nil {
		log.Fatal(err)
	}
	res.prefix1 = score(ids, truth[oneChar])
	pe.close()
	return res
}

type buildRes struct {
	name   string
	dur    time.Duration
	binMiB float64
}

func goBuild(pkg, cache, out string) (time.Duration, error) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOCACHE="+cache, "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	cmd.Stderr = os.Stderr
	t := time.Now()
	err := cmd.Run()
	return time.Since(t), err
}

func buildTimes() []buildRes {
	w, _ := filepath.Abs(*flagWork)
	base := filepath.Join(w, "gocache-base")
	var out []buildRes
	d, err := goBuild("./cmd/tinybase", base, filepath.Join(w, "bin", "tinybase"))
	if err != nil {
		log.Fatal(err)
	}
	out = append(out, buildRes{"tinybase (stdlib only, EMPTY cache)", d, binMiB(filepath.Join(w, "bin", "tinybase"))})
	for _, c := range []struct{ name, pkg string }{{"bleve v2 + cjk", "./cmd/tinybleve"}, {"modernc sqlite + x/text/norm", "./cmd/tinysqlite"}} {
		cache := filepath.Join(w, "gocache-"+filepath.Base(c.pkg))
		if err := exec.Command("cp", "-a", base, cache).Run(); err != nil {
			log.Fatal(err)
		}
		bin := filepath.Join(w, "bin", filepath.Base(c.pkg))
		d, err := goBuild(c.pkg, cache, bin)
		if err != nil {
			log.Fatal(err)
		}
		d2, _ := goBuild(c.pkg, cache, bin) // warm rebuild
		out = append(out, buildRes{c.name + " (cold pkgs, stdlib cached)", d, binMiB(bin)})
		out = append(out, buildRes{c.name + " (warm cache rebuild)", d2, binMiB(bin)})
	}
	return out
}

func binMiB(p string) float64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return float64(fi.Size()) / (1 << 20)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func main() {
	flag.Parse()
	os.RemoveAll(*flagWork)
	if err := os.MkdirAll(*flagWork, 0o755); err != nil {
		log.Fatal(err)
	}
	if !*flagKeep {
		defer os.RemoveAll(*flagWork)
	}

	docs := genCorpus(*flagN, *flagSeed)
	var raw int64
	normDocs := make([]string, len(docs))
	for i, d := range docs {
		raw += int64(len(d))
		normDocs[i] = normalize(d)
	}
	// brute-force ground truth over normalized text
	truth := make([]map[int]bool, len(queries))
	oneChar := -1
	for i, q := range queries {
		nq := normalize(q)
		if len([]rune(nq)) == 1 {
			oneChar = i
		}
		truth[i] = map[int]bool{}
		for j, d := range normDocs {
			if strings.Contains(d, nq) {
				truth[i][j] = true
			}
		}
	}

	fmt.Printf("go %s, GOMAXPROCS=%d, %d docs, raw text %.2f MiB (UTF-8), batch %d\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), len(docs), float64(raw)/(1<<20), *flagBatch)
	fmt.Println("sample posts:")
	for _, d := range docs[:3] {
		fmt.Println("  ", d)
	}
	fmt.Println()

	results := []result{
		run("bleve-cjk", docs, truth, oneChar,
			func(p string) error { return bleveBuild(p, docs, *flagBatch) },
			func(p string, prefix bool) (engine, error) {
				idx, err := bleveOpen(p)
				return &bleveEng{idx: idx, prefix: prefix}, err
			}),
		run("sqlite-fts5", docs, truth, oneChar,
			func(p string) error {
				if err := os.MkdirAll(p, 0o755); err != nil {
					return err
				}
				return sqliteBuild(filepath.Join(p, "fts.db"), docs, *flagBatch)
			},
			func(p string, prefix bool) (engine, error) {
				db, err := sqliteOpen(filepath.Join(p, "fts.db"))
				return &sqliteEng{db: db, prefix: prefix}, err
			}),
	}

	fmt.Println("| metric | " + results[0].name + " | " + results[1].name + " |")
	fmt.Println("|---|---|---|")
	row := func(label string, f func(r result) string) {
		fmt.Printf("| %s | %s | %s |\n", label, f(results[0]), f(results[1]))
	}
	row("index time (build+close)", func(r result) string { return r.buildDur.Round(time.Millisecond).String() })
	row("docs indexed / s", func(r result) string { return fmt.Sprintf("%.0f", r.docsPerSec) })
	row("index size on disk", func(r result) string { return fmt.Sprintf("%.2f MiB", float64(r.size)/(1<<20)) })
	row("size / raw text", func(r result) string { return fmt.Sprintf("%.2fx", float64(r.size)/float64(raw)) })
	row(fmt.Sprintf("query p50 (top-20 + total, %d samples)", *flagRounds*len(queries)), func(r result) string { return ms(r.p50) })
	row("query p95", func(r result) string { return ms(r.p95) })
	row("query max", func(r result) string { return ms(r.max) })
	row("all-matching-ids p50 / p95", func(r result) string { return ms(r.allP50) + " / " + ms(r.allP95) })
	row("macro recall (30 q)", func(r result) string { return fmt.Sprintf("%.3f", r.macroR) })
	row("macro precision (30 q)", func(r result) string { return fmt.Sprintf("%.3f", r.macroP) })
	row("queries with recall<1 / precision<1", func(r result) string {
		a, b := 0, 0
		for _, q := range r.perQuery {
			if q.recall() < 1 {
				a++
			}
			if q.precision() < 1 {
				b++
			}
		}
		return fmt.Sprintf("%d / %d", a, b)
	})
	row(fmt.Sprintf("1-char %q via prefix fallback R/P", queries[oneChar]), func(r result) string {
		return fmt.Sprintf("%.3f / %.3f (hits %d, truth %d)", r.prefix1.recall(), r.prefix1.precision(), r.prefix1.hits, r.prefix1.truth)
	})

	var hits []int
	for _, t := range truth {
		hits = append(hits, len(t))
	}
	slices.Sort(hits)
	fmt.Printf("\nquery selectivity: median %d, max %d true matches of %d docs\n", hits[len(hits)/2], hits[len(hits)-1], len(docs))
	fmt.Println("\nper query (truth = strings.Contains over NFKC+lower text):")
	fmt.Printf("\n| query | truth | %s hits | R | P | %s hits | R | P |\n|---|---|---|---|---|---|---|---|\n", results[0].name, results[1].name)
	for i, q := range queries {
		a, b := results[0].perQuery[i], results[1].perQuery[i]
		fmt.Printf("| %s | %d | %d | %.3f | %.3f | %d | %.3f | %.3f |\n", q, a.truth, a.hits, a.recall(), a.precision(), b.hits, b.recall(), b.precision())
	}

	if *flagBuild {
		fmt.Println("\ngo build times (sequential; separate GOCACHE per candidate, copied from a cache holding only the stdlib build of tinybase):")
		fmt.Println("\n| build | wall time | binary |\n|---|---|---|")
		for _, b := range buildTimes() {
			fmt.Printf("| %s | %s | %.1f MiB |\n", b.name, b.dur.Round(100*time.Millisecond), b.binMiB)
		}
	}
}
