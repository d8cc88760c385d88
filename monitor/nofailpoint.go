//go:build !failpoint

package monitor

import (
	"go.uber.org/zap"

	"mimamori/alert"
)

// testHooks returns no hooks: test hooks are compiled only into binaries
// built with -tags failpoint (see failpoint.go).
func testHooks(*zap.Logger) []alert.DispatcherOption { return nil }
