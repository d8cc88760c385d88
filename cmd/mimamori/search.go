package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"mimamori/index"
	"mimamori/internal/jst"
	"mimamori/ledger"
	"mimamori/mention"
	"mimamori/monitor"
)

func searchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "search [QUERY]",
		Short: "Search mentions in the index (embedded or Elasticsearch)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := configAndLogger(cmd, "console")
			if err != nil {
				return err
			}
			q := index.Query{}
			if len(args) == 1 {
				q.Text = args[0]
			}
			f := cmd.Flags()
			q.Category, _ = f.GetString("category")
			sev, _ := f.GetString("severity")
			q.MinSeverity = mention.Severity(sev)
			if sev != "" && !q.MinSeverity.Valid() {
				return fmt.Errorf("--severity %q: want info, medium, high or critical", sev)
			}
			q.Target, _ = f.GetString("target")
			q.Status, _ = f.GetString("status")
			q.SourceID, _ = f.GetString("source")
			q.AlertOnly, _ = f.GetBool("alerts")
			q.Limit, _ = f.GetInt("limit")
			for _, tf := range []struct {
				flag string
				dst  *time.Time
			}{{"since", &q.Since}, {"until", &q.Until}} {
				s, _ := f.GetString(tf.flag)
				if s == "" {
					continue
				}
				t, err := parseWhen(s)
				if err != nil {
					return fmt.Errorf("--%s: %w", tf.flag, err)
				}
				*tf.dst = t
			}
			store, err := monitor.OpenStore(cmd.Context(), cfg, log, nil)
			if err != nil {
				return err
			}
			defer store.Close()
			ms, total, err := store.Search(cmd.Context(), q)
			if err != nil {
				return err
			}
			if asJSON, _ := f.GetBool("json"); asJSON {
				enc := json.NewEncoder(os.Stdout)
				for _, m := range ms {
					enc.Encode(m)
				}
				return nil
			}
			fmt.Printf("%d of %d mention(s)\n", len(ms), total)
			for _, m := range ms {
				fmt.Printf("%s  %s  %-8s %-10s %s  %s\n   %s\n", m.ID, m.FirstSeen.In(jst.Zone).Format("2006-01-02 15:04"),
					m.Severity, m.Status, strings.Join(m.Categories, ","), m.URL, oneLine(m.Text, 80))
			}
			return nil
		},
	}
	f := c.Flags()
	f.String("category", "", "only this category (threat, defamation, …)")
	f.String("severity", "", "at least this severity (medium, high, critical)")
	f.String("target", "", "only mentions attributed to this target id")
	f.String("status", "", "only this triage status")
	f.String("source", "", "only this source id")
	f.Bool("alerts", false, "only alerted mentions")
	f.String("since", "", "first seen at or after (RFC 3339, 2006-01-02, or a span back from now: 24h, 7d)")
	f.String("until", "", "first seen before (same forms)")
	f.Int("limit", 20, "at most this many results")
	f.Bool("json", false, "print JSON lines")
	return c
}

func parseWhen(s string) (time.Time, error) {
	if d, err := parseSpan(s); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, jst.Zone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, 2006-01-02) or a span (24h, 7d)", s)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func triageCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "triage ID",
		Short: "Set the legal team's triage status of a mention (kept in the index)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			status, _ := cmd.Flags().GetString("status")
			note, _ := cmd.Flags().GetString("note")
			if !mention.ValidStatus(status) {
				return fmt.Errorf("--status %q: want new, reviewing, escalated, closed or false_positive", status)
			}
			cfg, log, err := configAndLogger(cmd, "console")
			if err != nil {
				return err
			}
			l, err := ledger.OpenDir(cfg.DataDir)
			if err != nil {
				return err
			}
			defer l.Close()
			m, err := l.SetStatus(cmd.Context(), args[0], status, note)
			if err != nil {
				return err
			}
			deadLetter := func(dm mention.Mention, st int, reason string) {
				if err := l.DeadLetter(cmd.Context(), dm.ID, dm.Version, st, reason); err != nil {
					log.Error("record dead letter", zap.String("mention", dm.ID), zap.Error(err))
				}
			}
			store, err := monitor.OpenStore(cmd.Context(), cfg, log, deadLetter)
			if err != nil {
				fmt.Printf("%s: %s (recorded; the index follows when it is reachable: %v)\n", m.ID, status, err)
				return nil
			}
			defer store.Close()
			if _, err := monitor.NewIndexer(l, store, log).Drain(cmd.Context()); err != nil {
				fmt.Printf("%s: %s (recorded; the index follows when it is reachable: %v)\n", m.ID, status, err)
				return nil
			}
			fmt.Printf("%s: %s\n", m.ID, status)
			return nil
		},
	}
	c.Flags().String("status", "", "reviewing, escalated, closed or false_positive")
	c.Flags().String("note", "", "a note for the record")
	return c
}
