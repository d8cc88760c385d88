package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// patternsCmd groups the pattern-pack tools.
func patternsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "patterns",
		Short: "Debug pattern packs: show how the detector reads a post",
	}
	c.AddCommand(patternsTestCmd())
	return c
}

func patternsTestCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   `test [--json] [--patterns FILE]... "text"...`,
		Short: "Show the normalized text, rule hits with spans, targets, cancellers and the verdict for each text",
		Long: `Runs the detector of the config (its targets, the default pack and the config's
pattern files, plus any --patterns files) on each text and prints every step:
the normalized text the literals are matched against, the clauses, every target
name and rule hit with its span in the original text (rune offsets and the
original substring) and in the normalized text, why a hit was dropped or which
canceller voided it, which target it was attributed to and why, and the verdict.
A text of "-" reads one text per line from stdin.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, _ := cmd.Flags().GetBool("json")
			d, err := loadDetector(cmd)
			if err != nil {
				return err
			}
			var texts []string
			for _, a := range args {
				if a != "-" {
					texts = append(texts, a)
					continue
				}
				in := bufio.NewScanner(os.Stdin)
				in.Buffer(make([]byte, 1<<20), 16<<20)
				for in.Scan() {
					if l := in.Text(); strings.TrimSpace(l) != "" {
						texts = append(texts, l)
					}
				}
				if err := in.Err(); err != nil {
					return fmt.Errorf("stdin: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				for _, t := range texts {
					if err := enc.Encode(d.Trace(t)); err != nil {
						return err
					}
				}
				return nil
			}
			for i, t := range texts {
				if i > 0 {
					if _, err := io.WriteString(out, "\n"+strings.Repeat("-", 72)+"\n"); err != nil {
						return err
					}
				}
				var b strings.Builder
				d.Trace(t).WriteText(&b)
				if _, err := io.WriteString(out, b.String()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().Bool("json", false, "print each trace as a JSON object")
	c.Flags().StringArray("patterns", nil, "extra pattern file applied after the config's (repeatable)")
	return c
}
