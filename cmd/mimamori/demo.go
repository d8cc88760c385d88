package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mimamori/config"
	"mimamori/demo"
	"mimamori/logging"
	"mimamori/monitor"
)

func demoCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "demo",
		Short: "Serve a local sample site and run the daemon against it on the embedded store",
		Long: `demo starts a local sample site (a forum thread and a news feed with Japanese posts about
株式会社サンプル: complaints, praise, news, and defamatory or threatening posts), writes a config
for it, and runs the same daemon code against it with the embedded store and the file outbox.
With --once it does one pass and exits; otherwise it keeps running, a new post appears on the
site after the first pass, and Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			once, _ := cmd.Flags().GetBool("once")
			dir, _ := cmd.Flags().GetString("dir")
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			site := demo.NewSite()
			ln, base, err := listenDemoSite(abs)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: site, ReadHeaderTimeout: 5 * time.Second}
			go srv.Serve(ln)
			defer srv.Close()
			path, err := demo.WriteConfig(abs, base, filepath.Join(abs, "data"))
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			log, err := logging.New(cfg.Log.Level, "console")
			if err != nil {
				return err
			}
			defer log.Sync()
			fmt.Printf("sample site: %s%s and %s%s\nconfig: %s\n\n", base, demo.ThreadPath, base, demo.FeedPath, path)
			m, err := monitor.Build(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer m.Close()
			if once {
				if _, err := m.Once(cmd.Context()); err != nil {
					return err
				}
			} else {
				go func() {
					select {
					case <-cmd.Context().Done():
					case <-time.After(20 * time.Second):
						p := site.AddThreadPost("名無しさん", "サンプル社の佐藤、ほんとクズだな。土下座しろ", true)
						log.Sugar().Infof("demo: a new post #%d appeared on the sample forum; the next pass picks it up", p.ID)
					}
				}()
				if err := m.Run(cmd.Context()); err != nil {
					return err
				}
			}
			return printDemoResult(m, cfg)
		},
	}
	c.Flags().Bool("once", false, "do one pass and exit")
	c.Flags().String("dir", "demo-data", "folder for the demo's config, data, evidence and outbox")
	return c
}

func printDemoResult(m *monitor.Monitor, cfg config.Config) error {
	s := m.Summary()
	fmt.Printf("\nposts %d (new %d, edited %d, unchanged %d), alerts queued %d, errors %d\n",
		s.Posts, s.Created, s.Updated, s.Unchanged, s.Alerts, s.Errors)
	emls, _ := filepath.Glob(filepath.Join(cfg.OutboxDir(), "*.eml"))
	sort.Strings(emls)
	fmt.Printf("alert e-mails (%s):\n", m.Sender().Name())
	for _, e := range emls {
		fmt.Println("  ", e)
	}
	var bundles []string
	filepath.WalkDir(m.EvidenceDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "manifest.json" {
			bundles = append(bundles, filepath.Dir(p))
		}
		return nil
	})
	sort.Strings(bundles)
	fmt.Printf("evidence bundles (%s):\n", m.EvidenceDir())
	for _, b := range bundles {
		fmt.Println("  ", b)
	}
	if len(bundles) > 0 {
		fmt.Printf("\nverify one:  mimamori evidence verify %s\n", bundles[0])
	}
	return nil
}

// demoSiteFile records, inside the demo folder, the address the sample site
// was first served on. The address is part of every post's permalink, and
// the permalink is part of every mention id, so a rerun in the same folder
// must serve the site at the same address, or every post would be new and
// alerted again.
const demoSiteFile = "demo-site.url"

// demoDefaultAddr is where the sample site listens on a first run; when it
// is taken, any free loopback port is used and recorded.
const demoDefaultAddr = "127.0.0.1:18931"

// listenDemoSite listens where the demo folder's earlier runs served the
// sample site, or, on a first run, at demoDefaultAddr (any free port when
// that is taken), and records the address for the next run.
func listenDemoSite(dir string) (net.Listener, string, error) {
	rec := filepath.Join(dir, demoSiteFile)
	if b, err := os.ReadFile(rec); err == nil {
		base := strings.TrimSpace(string(b))
		u, err := url.Parse(base)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, "", fmt.Errorf("demo site: %s holds %q, not an http://host:port address; delete it to start afresh (the posts will then be alerted again)", rec, base)
		}
		ln, err := net.Listen("tcp", u.Host)
		if err != nil {
			return nil, "", fmt.Errorf("demo site: this demo folder's posts were read from %s (recorded in %s), and that address is taken now (%v); "+
				"stop what listens there (another demo?) and run again, or use a new --dir (a new folder alerts every post again)", base, rec, err)
		}
		return ln, base, nil
	}
	ln, err := net.Listen("tcp", demoDefaultAddr)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, "", fmt.Errorf("demo site: %w", err)
		}
	}
	base := "http://" + ln.Addr().String()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("demo site: %w", err)
	}
	if err := os.WriteFile(rec, []byte(base+"\n"), 0o640); err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("demo site: record its address: %w", err)
	}
	return ln, base, nil
}
