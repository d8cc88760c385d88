package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mimamori/alert"
	"mimamori/internal/jst"
	"mimamori/ledger"
)

func openLedger(cmd *cobra.Command) (*ledger.Ledger, func(), error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return nil, nil, err
	}
	l, err := ledger.OpenDir(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	return l, func() { l.Close() }, nil
}

func alertsCmd() *cobra.Command {
	c := &cobra.Command{Use: "alerts", Short: "Inspect and resend alert notifications"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List notifications (mails, webhook posts) with their delivery state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, done, err := openLedger(cmd)
			if err != nil {
				return err
			}
			defer done()
			state, _ := cmd.Flags().GetString("state")
			limit, _ := cmd.Flags().GetInt("limit")
			ns, err := l.Notifications(cmd.Context(), state, limit)
			if err != nil {
				return err
			}
			for _, n := range ns {
				full, err := l.Notification(cmd.Context(), n.ID)
				if err != nil {
					return err
				}
				fmt.Printf("%-8s %-10s %-9s %3d alert(s)  attempts %d  created %s  %s\n", n.State, n.Route, n.Kind, len(full.Alerts),
					n.Attempts, n.Created.In(jst.Zone).Format("2006-01-02 15:04"), n.ID)
				if n.LastError != "" {
					fmt.Printf("         last error: %s\n", n.LastError)
				}
			}
			events, err := l.AlertEvents(cmd.Context(), limit)
			if err != nil {
				return err
			}
			pending := 0
			for _, e := range events {
				if e.State == ledger.AlertPending {
					pending++
				}
			}
			fmt.Printf("%d notification(s); %d alert event(s) not yet routed\n", len(ns), pending)
			return nil
		},
	}
	list.Flags().String("state", "", "only this state: open, pending, sending, sent, dead")
	list.Flags().Int("limit", 100, "at most this many")
	show := &cobra.Command{
		Use:   "show NOTIFICATION-ID",
		Short: "Print a notification as it is (or would be) sent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			l, done, err := openLedger(cmd)
			if err != nil {
				return err
			}
			defer done()
			n, err := l.Notification(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(n)
			}
			r, err := alert.NewRenderer(cfg)
			if err != nil {
				return err
			}
			lang, _ := cmd.Flags().GetString("lang")
			if lang == "" {
				lang = cfg.Alert.Language
			}
			subject, body, err := r.Render(lang, n)
			if err != nil {
				return err
			}
			fmt.Printf("notification %s  route %s  state %s  attempts %d\nSubject: %s\n\n%s", n.ID, n.Route, n.State, n.Attempts, subject, body)
			return nil
		},
	}
	show.Flags().Bool("json", false, "print the stored notification as JSON")
	show.Flags().String("lang", "", "ja or en (default alert.language)")
	resend := &cobra.Command{
		Use:   "resend NOTIFICATION-ID",
		Short: "Deliver a notification again (also a dead letter); the running daemon picks it up",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, done, err := openLedger(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := l.Resend(cmd.Context(), args[0], time.Now()); err != nil {
				return err
			}
			fmt.Printf("%s: queued for delivery\n", args[0])
			return nil
		},
	}
	c.AddCommand(list, show, resend)
	return c
}

func silenceCmd() *cobra.Command {
	c := &cobra.Command{Use: "silence", Short: "Mute alerts about an author, target, source or category for a while"}
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a silence; every given field must match (e.g. --author NAME --for 7d)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			var s ledger.Silence
			s.Author, _ = f.GetString("author")
			s.Site, _ = f.GetString("site")
			s.Target, _ = f.GetString("target")
			s.SourceID, _ = f.GetString("source")
			s.Category, _ = f.GetString("category")
			s.Comment, _ = f.GetString("comment")
			if s.Author == "" && s.Site == "" && s.Target == "" && s.SourceID == "" && s.Category == "" {
				return fmt.Errorf("a silence needs at least one of --author, --site, --target, --source, --category")
			}
			forStr, _ := f.GetString("for")
			d, err := parseSpan(forStr)
			if err != nil {
				return fmt.Errorf("--for: %w", err)
			}
			l, done, err := openLedger(cmd)
			if err != nil {
				return err
			}
			defer done()
			now := time.Now()
			s.ID = fmt.Sprintf("silence-%d", now.UnixNano())
			s.Created, s.Expires = now.UTC(), now.Add(d).UTC()
			if err := l.AddSilence(cmd.Context(), s); err != nil {
				return err
			}
			fmt.Printf("%s until %s\n", s.ID, s.Expires.In(jst.Zone).Format("2006-01-02 15:04 JST"))
			return nil
		},
	}
	for _, fl := range []string{"author", "site", "target", "source", "category", "comment"} {
		add.Flags().String(fl, "", "match this "+fl)
	}
	add.Flags().String("for", "7d", "how long: 7d, 12h, 30m")
	list := &cobra.Command{
		Use:   "list",
		Short: "List active silences",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, done, err := openLedger(cmd)
			if err != nil {
				return err
			}
			defer done()
			ss, err := l.Silences(cmd.Context(), time.Now())
			if err != nil {
				return err
			}
			for _, s := range ss {
				var m []string
				for k, v := range map[string]string{"author": s.Author, "site": s.Site, "target": s.Target, "source": s.SourceID, "category": s.Category} {
					if v != "" {
						m = append(m, k+"="+v)
					}
				}
				fmt.Printf("%s  until %s  %s  %s\n", s.ID, s.Expires.In(jst.Zone).Format("2006-01-02 15:04"), strings.Join(m, " "), s.Comment)
			}
			return nil
		},
	}
	expire := &cobra.Command{
		Use:   "expire ID",
		Short: "End a silence now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, done, err := openLedger(cmd)
			if err != nil {
				return err
			}
			defer done()
			return l.ExpireSilence(cmd.Context(), args[0], time.Now())
		},
	}
	c.AddCommand(add, list, expire)
	return c
}

// parseSpan parses a duration that may use days (7d).
func parseSpan(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSuffix(s, "d"), "%d", &n); err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration (7d, 12h, 30m)", s)
	}
	return d, nil
}
