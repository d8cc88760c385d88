//go:build failpoint

package monitor

import (
	"os"
	"syscall"

	"go.uber.org/zap"

	"mimamori/alert"
)

// FailpointEnv names the environment variable of the crash test hook,
// compiled only into binaries built with -tags failpoint (the end-to-end
// tests build theirs so): when it is "crash-after-send" the process kills
// itself right after a mail was accepted and before the ledger records
// it, as a power cut would.
const FailpointEnv = "MIMAMORI_FAILPOINT"

// testHooks returns the dispatcher hooks the environment asks for.
func testHooks(log *zap.Logger) []alert.DispatcherOption {
	if os.Getenv(FailpointEnv) != "crash-after-send" {
		return nil
	}
	return []alert.DispatcherOption{alert.WithAfterSend(func(id string) {
		log.Warn("failpoint: killing the process after a send, before recording it", zap.String("notification", id))
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	})}
}
