package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"mimamori/detect"
	"mimamori/mention"
)

func loadDetector(cmd *cobra.Command) (*detect.Detector, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	files := cfg.Patterns.Files
	if f := cmd.Flags().Lookup("patterns"); f != nil {
		extra, _ := cmd.Flags().GetStringArray("patterns")
		files = append(append([]string(nil), files...), extra...)
	}
	return detect.New(cfg.Targets, detect.Options{PatternFiles: files, NoDefaultPack: cfg.Patterns.NoDefaultPack})
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
		Use:   "eval [--dataset inspection|jcommonsense|openai|davidson] [--json] PATH",
		Short: "Score the detector on labelled data: precision, recall, confusion",
		Long: `Without --dataset, PATH is a JSON-lines file in the dev-set format
({"id","text","alert","category","target"}) scored on alerts against the
config's targets: precision, recall, F1 and the per-category confusion.

With --dataset, PATH is one of the general toxicity sets of shared/data (its
folder or file); they have no targets, so a post counts as flagged when the
verdict lists an abusive category:
  inspection    ja-inspection-toxic: vote rule, recall and precision with 95% Wilson intervals
  jcommonsense  ja-jcommonsense-morality: false-positive rate (every flag is a false alarm)
  openai        en-openai-moderation: HR = 1 positive, HR = 0 negative
  davidson      en-davidson-hate-offensive: unanimous rows only
Without a config file (the default mimamori.yaml absent) the shipped pack is used.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dataset, _ := cmd.Flags().GetString("dataset")
			asJSON, _ := cmd.Flags().GetBool("json")
			var d *detect.Detector
			var err error
			path, _ := cmd.Flags().GetString("config")
			if _, statErr := os.Stat(path); dataset != "" && !cmd.Flags().Changed("config") && os.IsNotExist(statErr) {
				d, err = detect.New(nil, detect.Options{})
			} else {
				d, err = loadDetector(cmd)
			}
			if err != nil {
				return err
			}
			emit := func(v any, text func() error) error {
				if !asJSON {
					return text()
				}
				enc := json.NewEncoder(os.Stdout)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			if dataset != "" {
				r, err := detect.EvaluateDataset(d, dataset, args[0])
				if err != nil {
					return err
				}
				return emit(r, func() error { return r.WriteText(os.Stdout) })
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
			return emit(r, func() error { return r.WriteText(os.Stdout) })
		},
	}
	c.Flags().String("dataset", "", "score a general toxicity set: "+strings.Join(detect.Datasets(), ", "))
	c.Flags().Bool("json", false, "print the report as JSON")
	return c
}
