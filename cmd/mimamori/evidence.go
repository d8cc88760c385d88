package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"mimamori/evidence"
)

func evidenceCmd() *cobra.Command {
	c := &cobra.Command{Use: "evidence", Short: "Work with evidence bundles"}
	v := &cobra.Command{
		Use:   "verify PATH",
		Short: "Check that no byte of an evidence bundle changed; exit 1 naming what changed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			want, _ := cmd.Flags().GetString("manifest-sha256")
			asJSON, _ := cmd.Flags().GetBool("json")
			r, err := evidence.Verify(args[0], want)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			if asJSON {
				json.NewEncoder(os.Stdout).Encode(r)
			} else if r.OK() {
				fmt.Printf("OK %s: %d files intact, manifest sha256 %s\n", r.Bundle, r.Files, r.ManifestSHA256)
			} else {
				fmt.Printf("ALTERED %s: %d problem(s)\n", r.Bundle, len(r.Problems))
				for _, p := range r.Problems {
					fmt.Println("  " + p.String())
				}
			}
			if !r.OK() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	v.Flags().String("manifest-sha256", "", "the manifest hash recorded at capture (from the alert e-mail or the index)")
	v.Flags().Bool("json", false, "print the report as JSON")
	c.AddCommand(v)
	return c
}
