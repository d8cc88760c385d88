package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"mimamori/detect"
	"mimamori/mention"
)

func loadDetector(cmd *cobra.Command) (*detect.Detector, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	return detect.New(cfg.Targets, detect.Options{PatternFiles: cfg.Patterns.Files, NoDefaultPack: cfg.Patterns.NoDefaultPack})
}

// detectLine is the output contract of `mimamori detect` (DESIGN.md).
type detectLine struct {
	ID string `json:"id"`
	mention.Verdict
}

func detectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "detect",
		Short: `Read JSON lines {"id","text"} on stdin, write one verdict JSON line per input`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := loadDetector(cmd)
			if err != nil {
				return err
			}
			in := bufio.NewScanner(os.Stdin)
			in.Buffer(make([]byte, 1<<20), 16<<20)
			out := bufio.NewWriter(os.Stdout)
			defer out.Flush()
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			line := 0
			for in.Scan() {
				line++
				if len(in.Bytes()) == 0 {
					continue
				}
				var rec struct {
					ID   string `json:"id"`
					Text string `json:"text"`
				}
				if err := json.Unmarshal(in.Bytes(), &rec); err != nil {
					return fmt.Errorf("stdin line %d: not a JSON object with id and text: %w", line, err)
				}
				v := d.Detect(rec.Text)
				if v.Categories == nil {
					v.Categories = []string{}
				}
				if v.Targets == nil {
					v.Targets = []string{}
				}
				if v.Matches == nil {
					v.Matches = []mention.Match{}
				}
				if err := enc.Encode(detectLine{ID: rec.ID, Verdict: v}); err != nil {
					return err
				}
			}
			if err := in.Err(); err != nil {
				return fmt.Errorf("stdin line %d: %w", line+1, err)
			}
			return nil
		},
	}
}

func evalCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "eval FILE",
		Short: "Run the detector over a labelled JSONL file and print precision, recall and per-category confusion",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := loadDetector(cmd)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := detect.Evaluate(d, f)
			if err != nil {
				return fmt.Errorf("evaluate %s: %w", args[0], err)
			}
			return r.WriteText(os.Stdout)
		},
	}
	return c
}
