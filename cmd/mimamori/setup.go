package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"mimamori/config"
	"mimamori/deploy/kibana"
	"mimamori/index/elastic"
)

func setupCmd() *cobra.Command {
	c := &cobra.Command{Use: "setup", Short: "Install what mimamori needs in Elasticsearch and Kibana"}
	c.AddCommand(&cobra.Command{
		Use:   "elasticsearch",
		Short: "Install the index template, the first dated index with the write alias, and the history index (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if cfg.Index.Backend != config.BackendElasticsearch {
				return fmt.Errorf("index.backend is %q: set it to elasticsearch first", cfg.Index.Backend)
			}
			log, err := newLogger(cfg, "console")
			if err != nil {
				return err
			}
			if err := elastic.Setup(cmd.Context(), cfg.Index.Elasticsearch, log); err != nil {
				return err
			}
			fmt.Printf("elasticsearch: template %s-template, write alias %s (analyzer %s) ready\n",
				cfg.Index.Elasticsearch.IndexPrefix, cfg.Index.Elasticsearch.IndexPrefix, cfg.Index.Elasticsearch.Analyzer)
			return nil
		},
	})
	k := &cobra.Command{
		Use:   "kibana",
		Short: "Import the data view, saved searches, visualizations and dashboard into Kibana",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			url, _ := f.GetString("kibana-url")
			user, _ := f.GetString("kibana-user")
			space, _ := f.GetString("space")
			n, err := kibana.Import(cmd.Context(), kibana.ImportOptions{URL: url, Username: user,
				Password: os.Getenv("MIMAMORI_KIBANA_PASSWORD"), APIKey: os.Getenv("MIMAMORI_KIBANA_API_KEY"), Space: space})
			if err != nil {
				return err
			}
			fmt.Printf("kibana: %d saved objects imported into %s\n", n, url)
			return nil
		},
	}
	k.Flags().String("kibana-url", "http://localhost:5601", "Kibana base URL")
	k.Flags().String("kibana-user", "", "Kibana user (password from MIMAMORI_KIBANA_PASSWORD; or MIMAMORI_KIBANA_API_KEY)")
	k.Flags().String("space", "", "Kibana space (default space when empty)")
	c.AddCommand(k)
	return c
}
