package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"mimamori/config"
	"mimamori/monitor"
)

func configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Work with the configuration"}
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Load and validate the config and build what run builds (detector, templates, sources), printing every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			cfg, problems, err := checkConfig(path)
			if err != nil {
				return err
			}
			if len(problems) > 0 {
				for _, fe := range problems {
					fmt.Fprintln(cmd.OutOrStdout(), fe.Error())
				}
				return &exitError{code: 1, msg: fmt.Sprintf("%s: %d problem(s)", path, len(problems))}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%d targets, %d sources, index %s, alerts via %s)\n", path, len(cfg.Targets),
				len(cfg.Sources), cfg.Index.Backend, alertsVia(cfg))
			return nil
		},
	})
	return c
}

// checkConfig loads the config at path and builds what run builds short of
// connections and data dir writes (monitor.Prepare), returning every
// problem. err is set only when the file cannot be read or parsed at all.
func checkConfig(path string) (config.Config, []config.FieldError, error) {
	cfg, err := config.Load(path)
	var ve *config.ValidationError
	if err != nil && !errors.As(err, &ve) {
		return cfg, nil, err
	}
	var problems []config.FieldError
	if ve != nil {
		problems = ve.Errors
	}
	// Prepare runs even on an invalid config so that one check reports
	// everything; a problem whose entry (a source, a pattern file) Load
	// already reported is left out, being the same mistake seen twice.
	_, built := monitor.Prepare(cfg)
	for _, fe := range built {
		if !reported(problems, fe.Key) {
			problems = append(problems, fe)
		}
	}
	return cfg, problems, nil
}

// reported says whether a problem under key, or under the entry holding
// it, is already in problems: sources[2] is covered by sources[2].url.
func reported(problems []config.FieldError, key string) bool {
	for _, p := range problems {
		if p.Key == key || strings.HasPrefix(p.Key, key+".") || strings.HasPrefix(p.Key, key+"[") {
			return true
		}
	}
	return false
}

func alertsVia(cfg config.Config) string {
	if cfg.SMTP.Host != "" {
		return fmt.Sprintf("smtp %s:%d", cfg.SMTP.Host, cfg.SMTP.Port)
	}
	return "outbox " + cfg.OutboxDir()
}
