package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mimamori/config"
	"mimamori/evidence"
	"mimamori/internal/jst"
	"mimamori/monitor"
)

func evidenceCmd() *cobra.Command {
	c := &cobra.Command{Use: "evidence", Short: "Work with evidence bundles: verify, export, chain head, retry, prune"}
	c.PersistentFlags().String("root", "", "evidence root (default: evidence.dir of the config, or <data_dir>/evidence)")
	c.PersistentFlags().String("tsa-ca", "", "PEM CA the TSA certificate must chain to (default: evidence.tsa.ca_file of the config)")
	c.AddCommand(evidenceVerifyCmd(), evidenceExportCmd(), evidenceChainCmd(), evidenceRetryCmd(), evidencePruneCmd())
	return c
}

// evidenceEnv resolves the evidence root and TSA CA from the flags, then
// from the config file when it exists (verify works without one).
func evidenceEnv(cmd *cobra.Command) (root, caFile string, cfg *config.Config, err error) {
	root, _ = cmd.Flags().GetString("root")
	caFile, _ = cmd.Flags().GetString("tsa-ca")
	path, _ := cmd.Flags().GetString("config")
	explicit := cmd.Flags().Changed("config")
	if _, statErr := os.Stat(path); explicit || statErr == nil {
		c, lerr := config.Load(path)
		if lerr != nil {
			if explicit {
				return "", "", nil, lerr
			}
		} else {
			cfg = &c
			if root == "" {
				root = c.EvidenceDir()
			}
			if caFile == "" {
				caFile = c.Evidence.TSA.CAFile
			}
		}
	}
	return root, caFile, cfg, nil
}

func loadRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	return evidence.LoadCAFile(caFile)
}

func evidenceVerifyCmd() *cobra.Command {
	v := &cobra.Command{
		Use:   "verify [PATH|ID]",
		Short: "Check every hash, the chain link and the timestamp of a bundle (or the whole chain with --chain); exit 1 naming what changed",
		Long: `verify checks a bundle: every file against its SHA-256 and size in manifest.json, files added or removed,
the RFC 3161 token (signature, imprint = SHA-256 of manifest.json, chain to the TSA CA), and the chain:
the bundle is in chain.jsonl with the same manifest hash, and the previous bundle exists with the
manifest hash this one recorded. PATH is a bundle folder; ID is a bundle id looked up under the root.
With --chain (and no argument) it checks the whole root: every line, every bundle, pruned bundles
reported as pruned, and bundle folders outside the chain; and the chain against every head recorded
in chain-heads.jsonl (by the daemon and by evidence chain anchor): the anchored line must still be
in chain.jsonl with the same hash, the records must link to each other, and their TSA tokens must
verify. A cut or rewritten chain fails naming the recorded head. --head SEQ:SHA adds a head kept
elsewhere (the log, the index).
Exit status: 0 intact, 1 altered or incomplete, 2 usage error or not a bundle.`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			want, _ := cmd.Flags().GetString("manifest-sha256")
			asJSON, _ := cmd.Flags().GetBool("json")
			whole, _ := cmd.Flags().GetBool("chain")
			headFlag, _ := cmd.Flags().GetString("head")
			root, caFile, _, err := evidenceEnv(cmd)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			roots, err := loadRoots(caFile)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			if whole || len(args) == 0 {
				if !whole {
					return &exitError{code: 2, msg: "mimamori: give a bundle PATH or ID, or --chain to check the whole root"}
				}
				if len(args) == 1 {
					root = args[0]
				}
				var expect *evidence.Head
				if headFlag != "" {
					h, err := parseHead(headFlag)
					if err != nil {
						return &exitError{code: 2, msg: "mimamori: --head: " + err.Error()}
					}
					expect = &h
				}
				rep, err := evidence.VerifyChain(root, roots, expect)
				if err != nil {
					return &exitError{code: 2, msg: "mimamori: " + err.Error()}
				}
				if asJSON {
					json.NewEncoder(os.Stdout).Encode(rep)
				} else {
					printChainReport(rep, roots != nil)
				}
				if !rep.OK() {
					return &exitError{code: 1}
				}
				return nil
			}
			arg := args[0]
			dir := arg
			vroot := ""
			if fi, err := os.Stat(arg); err != nil || !fi.IsDir() {
				if dir, err = evidence.ResolveBundle(root, arg); err != nil {
					return &exitError{code: 2, msg: "mimamori: " + err.Error()}
				}
				vroot = root
			} else if cmd.Flags().Changed("root") {
				vroot = root
			}
			r, err := evidence.VerifyWith(dir, evidence.VerifyOptions{WantManifestSHA256: want, Root: vroot, TSARoots: roots})
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			if asJSON {
				json.NewEncoder(os.Stdout).Encode(r)
			} else {
				printReport(r)
			}
			if !r.OK() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	v.Flags().String("manifest-sha256", "", "the manifest hash recorded at capture (from the alert e-mail or the index)")
	v.Flags().Bool("json", false, "print the report as JSON")
	v.Flags().Bool("chain", false, "verify the whole evidence root (every bundle and chain line)")
	v.Flags().String("head", "", "with --chain: a head logged earlier, as SEQ:LINE_SHA256; the chain must still hold it")
	return v
}

func parseHead(s string) (evidence.Head, error) {
	seq, sum, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || len(sum) != 64 {
		return evidence.Head{}, fmt.Errorf("%q is not SEQ:LINE_SHA256", s)
	}
	return evidence.Head{Seq: n, LineSHA256: sum}, nil
}

func printReport(r evidence.Report) {
	if r.OK() {
		fmt.Printf("OK %s: %d files intact, manifest sha256 %s\n", r.Bundle, r.Files, r.ManifestSHA256)
	} else {
		fmt.Printf("ALTERED %s: %d problem(s)\n", r.Bundle, len(r.Problems))
		for _, p := range r.Problems {
			fmt.Println("  " + p.String())
		}
	}
	if r.BundleID != "" {
		chain := "not checked"
		switch {
		case r.ChainChecked && r.ChainExcerpt != "":
			chain = "checked against the chain excerpt " + r.ChainExcerpt + " (its lines link by hash and record this manifest's hash; not the whole chain)"
		case r.ChainChecked:
			chain = "checked (in chain.jsonl, previous bundle present with the recorded hash)"
		}
		if r.ChainChecked && !r.OK() {
			chain = "checked"
		}
		fmt.Printf("  bundle %s (%s), chain position %d: %s\n", r.BundleID, r.Kind, r.ChainPosition, chain)
	}
	if t := r.Timestamp; t != nil {
		ca := "TSA chain not checked"
		if t.ChainVerified {
			ca = "TSA certificate chains to the configured CA"
		}
		fmt.Printf("  timestamp %s (%s) by %s, serial %s; %s\n", t.Time.In(jst.Zone).Format("2006-01-02 15:04:05 JST"),
			t.Time.UTC().Format(time.RFC3339), t.TSA, t.Serial, ca)
	}
	for _, n := range r.Notes {
		fmt.Println("  note: " + n)
	}
}

func printChainReport(r evidence.ChainReport, caChecked bool) {
	state := "OK"
	if !r.OK() {
		state = "ALTERED"
	}
	fmt.Printf("%s %s: %d line(s), %d bundle(s), %d timestamped, %d pruned; head position %d, line %d sha256 %s\n",
		state, r.Root, r.Lines, r.Bundles, r.Timestamped, r.Pruned, r.Head.Position, r.Head.Seq, r.Head.LineSHA256)
	fmt.Println("  " + anchorsLine(r))
	for _, p := range r.Problems {
		fmt.Println("  " + p.String())
	}
	for _, n := range r.Notes {
		fmt.Println("  note: " + n)
	}
	if !caChecked {
		fmt.Println("  note: TSA certificate chains not checked (no TSA CA: configure evidence.tsa.ca_file or pass --tsa-ca)")
	}
}

// anchorsLine says which recorded heads the chain was checked against.
func anchorsLine(r evidence.ChainReport) string {
	a := r.Anchors
	var b strings.Builder
	switch {
	case a.Checked == 0 && r.Lines == 0:
		b.WriteString("no recorded heads (the chain is empty)")
	case a.Checked == 0:
		b.WriteString("no recorded heads in " + evidence.AnchorFile + ": bundles removed from the end of the chain together with their lines" +
			" cannot be detected; anchor the head with mimamori evidence chain anchor (the daemon does it every retry interval and at shutdown)")
	default:
		fmt.Fprintf(&b, "checked against %d recorded head(s)", a.Checked)
		if n := a.Newest; n != nil {
			fmt.Fprintf(&b, " (newest seq %d at %s", n.Head.Seq, n.At.In(jst.Zone).Format("2006-01-02T15:04:05 JST"))
			switch {
			case a.NewestToken != nil && a.NewestToken.ChainVerified:
				b.WriteString(", timestamped by TSA, certificate chains to the configured CA")
			case a.NewestToken != nil:
				b.WriteString(", timestamped by TSA")
			case n.Token.Status == evidence.AnchorTokenFailed:
				b.WriteString(", not timestamped: " + n.Token.Error)
			default:
				b.WriteString(", not timestamped")
			}
			b.WriteString(")")
		}
		if a.Untimestamped > 0 && a.Timestamped > 0 {
			fmt.Fprintf(&b, "; %d of them timestamped", a.Timestamped)
		}
	}
	if a.Expected != nil {
		fmt.Fprintf(&b, "; and against --head %d:%s", a.Expected.Seq, a.Expected.LineSHA256)
	}
	return b.String()
}

func evidenceExportCmd() *cobra.Command {
	e := &cobra.Command{
		Use:   "export ID|PATH --out FILE.zip",
		Short: "Write a zip for a lawyer: the bundle, linked bundles, a chain excerpt, the TSA CA, SHA256SUMS and a cover sheet (Japanese, English summary)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, _ := cmd.Flags().GetString("out")
			force, _ := cmd.Flags().GetBool("force")
			if out == "" {
				return &exitError{code: 2, msg: "mimamori: --out FILE.zip is required"}
			}
			root, caFile, _, err := evidenceEnv(cmd)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() && !cmd.Flags().Changed("root") {
				root = evidence.FindRoot(args[0])
			}
			rep, err := evidence.Export(args[0], out, evidence.ExportOptions{Root: root, TSACAFile: caFile, Force: force})
			if err != nil {
				return &exitError{code: 1, msg: "mimamori: " + err.Error()}
			}
			fmt.Printf("wrote %s: bundle %s, %d file(s)", rep.Out, rep.Bundle, rep.Files)
			if len(rep.Related) > 0 {
				fmt.Printf(", linked bundles %s", strings.Join(rep.Related, ", "))
			}
			fmt.Println()
			for _, n := range rep.Notes {
				fmt.Println("note: " + n)
			}
			if !rep.Verify.OK() {
				fmt.Printf("WARNING: the bundle fails verification; the cover sheet says so (%d problem(s))\n", len(rep.Verify.Problems))
			}
			return nil
		},
	}
	e.Flags().String("out", "", "the zip file to write")
	e.Flags().Bool("force", false, "export even when the bundle fails verification (the cover sheet says so)")
	return e
}

func evidenceChainCmd() *cobra.Command {
	c := &cobra.Command{Use: "chain", Short: "Inspect the evidence hash chain and anchor its head"}
	h := &cobra.Command{
		Use:   "head",
		Short: "Print the chain head (newest bundle and newest line); log it to detect a later rewrite with verify --chain --head",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, _, _, err := evidenceEnv(cmd)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			if root == "" {
				return &exitError{code: 2, msg: "mimamori: no evidence root (pass --root or --config)"}
			}
			head, err := evidence.ReadChainHead(root)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return json.NewEncoder(os.Stdout).Encode(head)
			}
			if head.Seq == 0 {
				fmt.Printf("%s: the chain is empty\n", root)
				return nil
			}
			fmt.Printf("position %d bundle %s manifest_sha256 %s\nline %d sha256 %s at %s\nverify later with: mimamori evidence verify --chain --head %d:%s\n",
				head.Position, head.BundleID, head.ManifestSHA256, head.Seq, head.LineSHA256, head.At.Format(time.RFC3339), head.Seq, head.LineSHA256)
			return nil
		},
	}
	h.Flags().Bool("json", false, "print the head as JSON")
	c.AddCommand(h, evidenceChainAnchorCmd())
	return c
}

func evidenceChainAnchorCmd() *cobra.Command {
	a := &cobra.Command{
		Use:   "anchor",
		Short: "Record the chain head now in chain-heads.jsonl, with a TSA token when one is configured (for cron; the daemon does it on its own)",
		Long: `anchor appends the current chain head (line number, line SHA-256, newest bundle) to chain-heads.jsonl
under the evidence root, each record hashing the one before, and with evidence.tsa.url set stores an
RFC 3161 token over the line's SHA-256 in chain-heads/. evidence verify --chain then fails if the chain
no longer holds that line. Nothing is written when the head is unchanged since the last anchor (unless
that one's token is missing and the TSA answers now).
Exit status: 0 anchored or nothing to do; 1 the TSA failed (the record is written saying so) or the chain
no longer holds the head anchored last; 2 usage or storage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openEvidenceStore(cmd)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			res, err := s.AnchorHead(cmd.Context(), evidence.AnchorCommand)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				json.NewEncoder(os.Stdout).Encode(res)
			} else {
				printAnchor(s.Root(), res)
			}
			if res.Problem != "" || res.TokenError != "" {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	a.Flags().Bool("json", false, "print the result as JSON")
	return a
}

func printAnchor(root string, res evidence.AnchorResult) {
	a := res.Anchor
	if res.Written {
		fmt.Printf("anchored %s: record %d in %s: line %d sha256 %s, bundle %s at position %d\n",
			root, a.N, evidence.AnchorFile, a.Head.Seq, a.Head.LineSHA256, a.Head.BundleID, a.Head.Position)
		switch a.Token.Status {
		case evidence.AnchorTokenStamped:
			fmt.Printf("  timestamped by %s at %s (%s), token %s\n", a.Token.TSA, a.Token.Time.In(jst.Zone).Format("2006-01-02 15:04:05 JST"),
				a.Token.Time.UTC().Format(time.RFC3339), a.Token.File)
		case evidence.AnchorTokenFailed:
			fmt.Printf("  NOT timestamped: %s (the record says so; the next anchor asks again)\n", a.Token.Error)
		default:
			fmt.Println("  not timestamped: no TSA configured (evidence.tsa.url)")
		}
	} else {
		fmt.Printf("nothing anchored in %s: %s\n", root, res.Skipped)
	}
	if res.Problem != "" {
		fmt.Println("PROBLEM: " + res.Problem + "; run mimamori evidence verify --chain")
	}
}

func openEvidenceStore(cmd *cobra.Command) (*evidence.Store, error) {
	_, _, cfg, err := evidenceEnv(cmd)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		path, _ := cmd.Flags().GetString("config")
		return nil, fmt.Errorf("this command needs the configuration (%s not found; pass --config)", path)
	}
	o := evidence.OptionsFromConfig(*cfg, "mimamori "+monitor.Version, nil)
	root := cfg.EvidenceDir()
	if r, _ := cmd.Flags().GetString("root"); r != "" {
		root = r
	}
	return evidence.Open(root, o)
}

func evidenceRetryCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "retry",
		Short: "Fetch missing timestamp tokens and render captures whose rendering failed (the daemon does this periodically)",
		Long: `retry asks the TSA for every missing timestamp token and renders every capture whose rendering
failed and is due again (at most --max per run; --now ignores the waiting time between attempts).
It prints what it stored and each bundle still pending with the reason and the next attempt.
Exit status: 0 when no attempt failed (work that is not due yet may be left), 1 when an attempt
failed, 2 when the store cannot be opened.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openEvidenceStore(cmd)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			max, _ := cmd.Flags().GetInt("max")
			now, _ := cmd.Flags().GetBool("now")
			rep, err := s.RetryPendingWith(cmd.Context(), evidence.RetryOptions{MaxRenders: max, IgnoreSchedule: now})
			if err != nil {
				return &exitError{code: 1, msg: "mimamori: " + err.Error()}
			}
			fmt.Printf("timestamps stored %d, still pending %d; renderings stored %d, still pending %d\n",
				rep.TimestampsStored, rep.TimestampsPending, rep.RendersStored, rep.RendersPending)
			for _, l := range rep.Left {
				line := fmt.Sprintf("  left: %s of %s (attempts %d): %s", l.What, l.BundleID, l.Attempts, l.Reason)
				if !l.NextAttempt.IsZero() {
					line += "; next attempt " + l.NextAttempt.In(jst.Zone).Format("2006-01-02 15:04 MST")
				}
				fmt.Println(line)
			}
			if rep.Failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("mimamori: %d attempt(s) failed; see the reasons above", rep.Failed)}
			}
			return nil
		},
	}
	c.Flags().Int("max", 100, "at most this many renderings in this run")
	c.Flags().Bool("now", false, "attempt renderings now even when their next attempt is not due yet")
	return c
}

func evidencePruneCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "Delete the files of bundles older than evidence.retention / evidence.light_retention (manifests, tokens and the chain stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openEvidenceStore(cmd)
			if err != nil {
				return &exitError{code: 2, msg: "mimamori: " + err.Error()}
			}
			rep, err := s.Prune(cmd.Context(), time.Now())
			if err != nil {
				return &exitError{code: 1, msg: "mimamori: " + err.Error()}
			}
			fmt.Printf("pruned %d bundle(s), freed %d bytes\n", rep.Pruned, rep.FreedBytes)
			for _, e := range rep.Errors {
				fmt.Println("  " + e)
			}
			return nil
		},
	}
}
