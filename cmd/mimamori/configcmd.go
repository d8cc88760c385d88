package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"mimamori/config"
)

func configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Work with the configuration"}
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Load and validate the config, printing every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			cfg, err := config.Load(path)
			var ve *config.ValidationError
			if errors.As(err, &ve) {
				for _, fe := range ve.Errors {
					fmt.Println(fe.Error())
				}
				return &exitError{code: 1, msg: fmt.Sprintf("%s: %d problem(s)", path, len(ve.Errors))}
			}
			if err != nil {
				return err
			}
			fmt.Printf("%s: OK (%d targets, %d sources, index %s, alerts via %s)\n", path, len(cfg.Targets), len(cfg.Sources),
				cfg.Index.Backend, alertsVia(cfg))
			return nil
		},
	})
	return c
}

func alertsVia(cfg config.Config) string {
	if cfg.SMTP.Host != "" {
		return fmt.Sprintf("smtp %s:%d", cfg.SMTP.Host, cfg.SMTP.Port)
	}
	return "outbox " + cfg.OutboxDir()
}
