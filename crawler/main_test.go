package crawler

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"

	"mimamori/crawler/fetch"
)

// offHost records any connection the guard let through to an address that
// is not loopback: the tests must never send a packet off this machine.
var offHost struct {
	sync.Mutex
	addrs []string
}

// TestMain installs the SSRF safety net on every source of every test:
// whatever the guard decides, only loopback is ever dialled, and a test
// run that tried anything else fails.
func TestMain(m *testing.M) {
	fetchOptionsHook = func(o *fetch.Options) {
		o.AfterGuard = func(network, address string) error {
			if ap, err := netip.ParseAddrPort(address); err == nil && ap.Addr().Unmap().IsLoopback() {
				return nil
			}
			offHost.Lock()
			offHost.addrs = append(offHost.addrs, address)
			offHost.Unlock()
			return fmt.Errorf("test safety net: refusing to dial %s", address)
		}
	}
	code := m.Run()
	if len(offHost.addrs) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the guard let connections off this host through: %v\n", offHost.addrs)
		code = 1
	}
	os.Exit(code)
}
