package crawler

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"

	"mimamori/config"
)

// offHost records any connection the guard let through to an address that
// is not loopback: the tests must never send a packet off this machine.
var offHost struct {
	sync.Mutex
	addrs []string
}

// loopbackOnly is the SSRF safety net every test source gets: whatever the
// guard decides, only loopback is ever dialled, and a test run that tried
// anything else fails (TestMain).
func loopbackOnly(network, address string) error {
	if ap, err := netip.ParseAddrPort(address); err == nil && ap.Addr().Unmap().IsLoopback() {
		return nil
	}
	offHost.Lock()
	offHost.addrs = append(offHost.addrs, address)
	offHost.Unlock()
	return fmt.Errorf("test safety net: refusing to dial %s", address)
}

// newTestSource is NewSource with the safety net installed.
func newTestSource(cfg config.CrawlerConfig, src config.Source, opts Options) (*Source, error) {
	opts.AfterGuard = loopbackOnly
	return NewSource(cfg, src, opts)
}

// newTestSources is NewSources with the safety net installed.
func newTestSources(cfg config.CrawlerConfig, srcs []config.Source, opts Options) ([]Runner, error) {
	opts.AfterGuard = loopbackOnly
	return NewSources(cfg, srcs, opts)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if len(offHost.addrs) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the guard let connections off this host through: %v\n", offHost.addrs)
		code = 1
	}
	os.Exit(code)
}
