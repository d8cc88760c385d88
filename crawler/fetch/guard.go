package fetch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// BlockedError is returned (wrapped in *url.Error and *net.OpError) when
// the SSRF guard refuses to connect to an address. It is decided on the
// resolved address at connect time, before any packet is sent.
type BlockedError struct {
	// Host is the name the request asked for (as in the URL), if known.
	Host string
	// Addr is the resolved address:port that was refused.
	Addr string
	// Reason names the address class: "loopback", "private", …
	Reason string
}

func (e *BlockedError) Error() string {
	if e.Host != "" && e.Host != hostOf(e.Addr) {
		return fmt.Sprintf("fetch: refused to connect to %s (%s): %s address (SSRF guard)", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("fetch: refused to connect to %s: %s address (SSRF guard)", e.Addr, e.Reason)
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

var (
	// IPv4 ranges not covered by netip.Addr's predicates.
	v4ThisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	v4CGNAT       = netip.MustParsePrefix("100.64.0.0/10")
	v4IETF        = netip.MustParsePrefix("192.0.0.0/24")
	v4Benchmark   = netip.MustParsePrefix("198.18.0.0/15")
	v4Reserved    = netip.MustParsePrefix("240.0.0.0/4")
	metadataV4    = netip.MustParseAddr("169.254.169.254")

	// IPv6 ranges.
	v6Compat     = netip.MustParsePrefix("::/96")
	v6NAT64      = netip.MustParsePrefix("64:ff9b::/96")
	v6NAT64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	v6Discard    = netip.MustParsePrefix("100::/64")
	v6SiteLocal  = netip.MustParsePrefix("fec0::/10")
	v66to4       = netip.MustParsePrefix("2002::/16")
)

// BlockReason returns why the guard refuses to connect to ip, or "" when ip
// is a public unicast address. IPv4-mapped, NAT64 and 6to4 forms are judged
// by the IPv4 address they embed.
func BlockReason(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip == metadataV4:
		return "link-local (cloud metadata)"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.IsPrivate():
		if ip.Is6() {
			return "unique local (private)"
		}
		return "private"
	}
	if ip.Is4() {
		switch {
		case v4ThisNetwork.Contains(ip):
			return "unspecified"
		case v4CGNAT.Contains(ip):
			return "shared (CGNAT)"
		case v4IETF.Contains(ip):
			return "IETF protocol assignment"
		case v4Benchmark.Contains(ip):
			return "benchmarking"
		case v4Reserved.Contains(ip):
			return "reserved"
		}
		return ""
	}
	b := ip.As16()
	switch {
	case v6Compat.Contains(ip):
		return "IPv4-compatible"
	case v6NAT64.Contains(ip):
		if r := BlockReason(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return r + " (NAT64)"
		}
	case v6NAT64Local.Contains(ip):
		return "local-use NAT64"
	case v6Discard.Contains(ip):
		return "discard-only"
	case v6SiteLocal.Contains(ip):
		return "site-local"
	case v66to4.Contains(ip):
		if r := BlockReason(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return r + " (6to4)"
		}
	}
	return ""
}

// dialInfo travels from DialContext to the dialer's Control in the context.
type dialInfo struct {
	host    string
	allowed bool
}

type dialInfoKey struct{}

// guard dials through net.Dialer and refuses non-public addresses in
// Control, i.e. after DNS resolution and before connect(2).
type guard struct {
	dialer       net.Dialer
	allowPrivate bool
	allowHosts   map[string]bool // "host" or "host:port", lower case
	after        func(network, address string) error
}

func newGuard(opts Options) *guard {
	g := &guard{allowPrivate: opts.AllowPrivate, allowHosts: map[string]bool{}, after: opts.AfterGuard}
	for _, h := range opts.AllowHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		// Accept "[::1]" as well as "::1" for a bare IPv6 host.
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		g.allowHosts[h] = true
	}
	g.dialer = net.Dialer{
		Timeout:        dialTimeout(opts.Timeout),
		KeepAlive:      30 * time.Second,
		ControlContext: g.control,
	}
	return g
}

func (g *guard) allowed(hostport string) bool {
	if g.allowPrivate {
		return true
	}
	hostport = strings.ToLower(hostport)
	if g.allowHosts[hostport] {
		return true
	}
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && g.allowHosts[host]
}

func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host := hostOf(addr)
	info := dialInfo{host: host, allowed: g.allowed(addr)}
	// Literal addresses too are judged in control: one place decides.
	return g.dialer.DialContext(context.WithValue(ctx, dialInfoKey{}, info), network, addr)
}

// control runs after name resolution, on every address tried, before the
// socket connects.
func (g *guard) control(ctx context.Context, network, address string, c syscall.RawConn) error {
	if err := g.check(ctx, network, address); err != nil {
		return err
	}
	if g.after != nil {
		return g.after(network, address)
	}
	return nil
}

func (g *guard) check(ctx context.Context, network, address string) error {
	info, _ := ctx.Value(dialInfoKey{}).(dialInfo)
	if info.allowed {
		return nil
	}
	switch network {
	case "tcp4", "tcp6":
	default:
		return &BlockedError{Host: info.host, Addr: address, Reason: "network " + network}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Host: info.host, Addr: address, Reason: "unparseable"}
	}
	if r := BlockReason(ap.Addr()); r != "" {
		return &BlockedError{Host: info.host, Addr: address, Reason: r}
	}
	return nil
}
