package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/logging"
	"mimamori/monitor"
)

func loadConfig(cmd *cobra.Command) (config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	return config.Load(path)
}

func newLogger(cfg config.Config, format string) (*zap.Logger, error) {
	if format == "" {
		format = cfg.Log.Format
	}
	return logging.New(cfg.Log.Level, format)
}

// configAndLogger loads the config and builds a logger in format ("" = the config's).
func configAndLogger(cmd *cobra.Command, format string) (config.Config, *zap.Logger, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return cfg, nil, err
	}
	log, err := newLogger(cfg, format)
	return cfg, log, err
}

func runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := configAndLogger(cmd, "")
			if err != nil {
				return err
			}
			defer log.Sync()
			m, err := monitor.Build(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer m.Close()
			return m.Run(cmd.Context())
		},
	}
}

func crawlCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "crawl",
		Short: "Crawl every source (once with --once), then index and deliver alerts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			once, _ := cmd.Flags().GetBool("once")
			if !once {
				return fmt.Errorf("crawl without --once is the daemon: use mimamori run")
			}
			cfg, log, err := configAndLogger(cmd, "console")
			if err != nil {
				return err
			}
			defer log.Sync()
			m, err := monitor.Build(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer m.Close()
			s, err := m.Once(cmd.Context())
			fmt.Fprintf(os.Stdout, "posts %d, new %d, edited %d, unchanged %d, alerts %d, errors %d\n",
				s.Posts, s.Created, s.Updated, s.Unchanged, s.Alerts, s.Errors)
			return err
		},
	}
	c.Flags().Bool("once", false, "run every source once and exit")
	return c
}
