// Command grepbench generates the pattern list and corpus of the detector
// throughput benchmark and times the detector on them; grep-compare.sh runs
// it next to GNU grep -F (see bench/detect/README.md).
//
//	grepbench gen -dir DIR [-mb 64] [-patterns 5000]
//	grepbench run -dir DIR -pack user|default|both
//
// gen writes DIR/patterns.txt (one term a line, for grep -F -f), the same
// terms as a user pattern pack DIR/pack.yaml, and DIR/corpus.txt (one post
// a line). run feeds every line of the corpus to Detector.Detect as one
// post and prints a key=value line: bytes, seconds and MB/s of the
// detection loop (best of -rounds), the same end to end (reading and
// splitting the file included, as grep does), posts with a match, matches,
// alerts, allocations per post. MB is 10^6 bytes. Run it with GOMAXPROCS=1
// on one core.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"mimamori/bench/detect/corpus"
	"mimamori/detect"
	"mimamori/mention"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grepbench gen|run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grepbench:", err)
		os.Exit(1)
	}
}

// Targets are the fictional company and staff member of the corpus.
var Targets = []mention.Target{
	{ID: "asagi", Kind: mention.KindCompany, Name: corpus.CompanyName, Aliases: []string{corpus.CompanyAlias, "アサギ", corpus.CompanyLatin}},
	{ID: "staff-morimoto", Kind: mention.KindStaff, Name: corpus.StaffName, Aliases: []string{corpus.StaffAlias, "Morimoto"}},
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", "", "output folder")
	mb := fs.Int("mb", 64, "corpus size in MB")
	n := fs.Int("patterns", 5000, "number of pattern terms")
	inject := fs.Float64("inject", 0.03, "share of posts carrying one pattern term")
	_ = fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("gen: -dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	terms := corpus.Patterns(*n, 1)
	var pt bytes.Buffer
	for _, t := range terms {
		pt.WriteString(t + "\n")
	}
	if err := os.WriteFile(filepath.Join(*dir, "patterns.txt"), pt.Bytes(), 0o644); err != nil {
		return err
	}
	pack, err := corpus.Pack(terms)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "pack.yaml"), pack, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*dir, "corpus.txt"))
	if err != nil {
		return err
	}
	posts, err := corpus.WriteCorpus(f, int64(*mb)<<20, 2, terms, *inject)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Printf("patterns=%d posts=%d bytes=%d\n", len(terms), posts, int64(*mb)<<20)
	return nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	dir := fs.String("dir", "", "folder written by gen")
	which := fs.String("pack", "user", "user (the generated terms only), default (the shipped pack) or both")
	cpuprof := fs.String("cpuprofile", "", "write a CPU profile of the timed loop to this file")
	rounds := fs.Int("rounds", 1, "passes over the corpus (the best is reported)")
	_ = fs.Parse(args)
	var opts detect.Options
	switch *which {
	case "user":
		opts = detect.Options{PatternFiles: []string{filepath.Join(*dir, "pack.yaml")}, NoDefaultPack: true}
	case "default":
	case "both":
		opts = detect.Options{PatternFiles: []string{filepath.Join(*dir, "pack.yaml")}}
	default:
		return fmt.Errorf("run: -pack %q is not user, default or both", *which)
	}
	t0 := time.Now()
	d, err := detect.New(Targets, opts)
	if err != nil {
		return err
	}
	build := time.Since(t0)
	// end to end, as grep does it: read the file, split it into posts,
	// detect each (the detector is built beforehand, like grep's pattern
	// compilation this is not counted; it is printed as build_s); best of
	// -rounds
	var e2e time.Duration
	for r := range max(1, *rounds) {
		e2eStart := time.Now()
		f, err := os.Open(filepath.Join(*dir, "corpus.txt"))
		if err != nil {
			return err
		}
		// streamed like grep reads it; each post becomes a string, as it
		// would arriving from a crawler
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 256<<10), 16<<20)
		for sc.Scan() {
			d.Detect(sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
		if e := time.Since(e2eStart); r == 0 || e < e2e {
			e2e = e
		}
	}
	data, err := os.ReadFile(filepath.Join(*dir, "corpus.txt"))
	if err != nil {
		return err
	}
	text := string(data)
	// the detection loop alone, best of -rounds, over the same posts
	var lines []string
	for rest := text; len(rest) > 0; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		lines = append(lines, line)
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var m0, m1 runtime.MemStats
	var el time.Duration
	withMatch, matches, alerts := 0, 0, 0
	for r := range max(1, *rounds) {
		runtime.GC()
		runtime.ReadMemStats(&m0)
		withMatch, matches, alerts = 0, 0, 0
		start := time.Now()
		for _, l := range lines {
			v := d.Detect(l)
			if n := len(v.Matches); n > 0 {
				withMatch++
				matches += n
			}
			if v.Alert {
				alerts++
			}
		}
		if e := time.Since(start); r == 0 || e < el {
			el = e
		}
		runtime.ReadMemStats(&m1)
	}
	fmt.Printf("pack=%s build_s=%.2f bytes=%d posts=%d seconds=%.3f mbps=%.1f e2e_seconds=%.3f mbps_e2e=%.1f posts_with_match=%d matches=%d alerts=%d allocs_per_post=%.2f bytes_alloc_per_post=%.0f gomaxprocs=%d\n",
		*which, build.Seconds(), len(text), len(lines), el.Seconds(), float64(len(text))/1e6/el.Seconds(),
		e2e.Seconds(), float64(len(text))/1e6/e2e.Seconds(),
		withMatch, matches, alerts, float64(m1.Mallocs-m0.Mallocs)/float64(len(lines)),
		float64(m1.TotalAlloc-m0.TotalAlloc)/float64(len(lines)), runtime.GOMAXPROCS(0))
	return nil
}
