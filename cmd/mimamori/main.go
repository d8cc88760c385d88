// Command mimamori watches the public web for defamation and harassment of
// a company and its staff, keeps court-ready evidence and alerts the legal
// team. main only parses flags, turns signals into a cancelled context and
// calls into monitor and the stage packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "mimamori",
		Short:         "Watch the web for attacks on the company and its staff; keep evidence; alert the legal team",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "mimamori.yaml", "configuration file (YAML)")
	root.AddCommand(runCmd(), crawlCmd(), demoCmd(), detectCmd(), evalCmd(), patternsCmd(), evidenceCmd(), configCmd(),
		searchCmd(), triageCmd(), alertsCmd(), silenceCmd(), setupCmd())
	err := root.ExecuteContext(ctx)
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, ee.msg)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "mimamori:", err)
	os.Exit(1)
}
