// Package netguard is mimamori's one SSRF guard: it classifies addresses
// (loopback, private, link-local, cloud metadata, the IPv6 forms that embed
// them…) and decides, for a source's Policy, whether a connection to a
// resolved address may be made. The crawler's HTTP client dials through it
// (the decision is taken on the resolved address, after DNS and before
// connect), and the evidence renderer checks each subresource URL with it,
// so both follow the same rules.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// BlockedError is returned (wrapped in *url.Error and *net.OpError by
// net/http) when the guard refuses to connect to an address.
type BlockedError struct {
	// Host is the name the request asked for (as in the URL), if known.
	Host string
	// Addr is the resolved address (address:port at dial time) refused.
	Addr string
	// Reason names the address class: "loopback", "private", …
	Reason string
	// Hint says, when a policy was involved, what would let it through.
	Hint string
}

func (e *BlockedError) Error() string {
	var s string
	if e.Host != "" && e.Host != hostOf(e.Addr) {
		s = fmt.Sprintf("refused to connect to %s (%s): %s address (SSRF guard)", e.Host, e.Addr, e.Reason)
	} else {
		s = fmt.Sprintf("refused to connect to %s: %s address (SSRF guard)", e.Addr, e.Reason)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]")
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

	// IPv6 ranges.
	v6Compat     = netip.MustParsePrefix("::/96")
	v6NAT64      = netip.MustParsePrefix("64:ff9b::/96")
	v6NAT64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	v6Discard    = netip.MustParsePrefix("100::/64")
	v6SiteLocal  = netip.MustParsePrefix("fec0::/10")
	v66to4       = netip.MustParsePrefix("2002::/16")
)

// metadata are the cloud metadata services outside link-local ranges, with
// the class they would otherwise have. 169.254.169.254 is link-local.
var metadata = map[netip.Addr]string{
	netip.MustParseAddr("169.254.169.254"): "link-local (cloud metadata)",
	netip.MustParseAddr("fd00:ec2::254"):   "unique local (cloud metadata)",   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"): "shared (CGNAT) (cloud metadata)", // Alibaba Cloud
}

// BlockReason returns why the guard refuses to connect to ip by default,
// or "" when ip is a public unicast address. IPv4-mapped, IPv4-compatible,
// NAT64 and 6to4 forms are judged by the IPv4 address they embed.
func BlockReason(ip netip.Addr) string {
	r, _ := classify(ip)
	return r
}

// Sensitive reports whether ip is link-local (IPv4 169.254.0.0/16, IPv6
// fe80::/10) or a cloud metadata address, or embeds one. allow_private does
// not open these: only a host named in allow_hosts reaches them.
func Sensitive(ip netip.Addr) bool {
	_, s := classify(ip)
	return s
}

// classify returns the block reason of ip and whether it is sensitive.
func classify(ip netip.Addr) (string, bool) {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if r, ok := metadata[ip]; ok {
		return r, true
	}
	switch {
	case !ip.IsValid():
		return "invalid", false
	case ip.IsUnspecified():
		return "unspecified", false
	case ip.IsLoopback():
		return "loopback", false
	case ip.IsLinkLocalUnicast():
		return "link-local", true
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast", false
	case ip.IsPrivate():
		if ip.Is6() {
			return "unique local (private)", false
		}
		return "private", false
	}
	if ip.Is4() {
		switch {
		case v4ThisNetwork.Contains(ip):
			return "unspecified", false
		case v4CGNAT.Contains(ip):
			return "shared (CGNAT)", false
		case v4IETF.Contains(ip):
			return "IETF protocol assignment", false
		case v4Benchmark.Contains(ip):
			return "benchmarking", false
		case v4Reserved.Contains(ip):
			return "reserved", false
		}
		return "", false
	}
	b := ip.As16()
	embedded := func(v4 []byte) (string, bool) { return classify(netip.AddrFrom4([4]byte(v4))) }
	switch {
	case v6Compat.Contains(ip):
		_, s := embedded(b[12:16])
		return "IPv4-compatible", s
	case v6NAT64.Contains(ip):
		if r, s := embedded(b[12:16]); r != "" {
			return r + " (NAT64)", s
		}
	case v6NAT64Local.Contains(ip):
		return "local-use NAT64", false
	case v6Discard.Contains(ip):
		return "discard-only", false
	case v6SiteLocal.Contains(ip):
		return "site-local", false
	case v66to4.Contains(ip):
		if r, s := embedded(b[2:6]); r != "" {
			return r + " (6to4)", s
		}
	}
	return "", false
}

// Policy says which non-public addresses one source may reach. The zero
// Policy allows public addresses only.
type Policy struct {
	// AllowPrivate lets the source's own host (Home) reach loopback,
	// private and other non-public addresses, but never link-local or
	// cloud metadata ones. With no Home, every host may (tests).
	AllowPrivate bool
	// Home is the source's URL (or host, host:port): the host AllowPrivate
	// opens. A URL without a port opens both port 80 and 443, so an
	// http → https redirect on the same host works.
	Home string
	// AllowHosts lists hosts ("intranet.example", "10.0.0.5", "[::1]") or
	// host:port pairs ("127.0.0.1:8080") that may reach any address,
	// link-local and metadata included: naming a host is explicit. They
	// are matched against the name in the URL.
	AllowHosts []string
}

// access is what the guard lets a host reach.
type access int

const (
	accessPublic  access = iota // public addresses only
	accessPrivate               // anything but link-local and metadata
	accessAll                   // anything (named in allow_hosts)
)

// Guard is a compiled Policy. It is safe for concurrent use.
type Guard struct {
	open       map[string]bool // allow_hosts: "host" or "host:port", lower case
	home       map[string]bool // hosts AllowPrivate opens, same forms
	anyPrivate bool            // AllowPrivate without Home
	homeName   string          // for messages
}

// New compiles p.
func New(p Policy) *Guard {
	g := &Guard{open: map[string]bool{}, home: map[string]bool{}}
	for _, h := range p.AllowHosts {
		if h = normHost(h); h != "" {
			g.open[h] = true
		}
	}
	if p.AllowPrivate {
		hosts := homeHosts(p.Home)
		if len(hosts) == 0 {
			g.anyPrivate = true
		}
		for _, h := range hosts {
			g.home[h] = true
		}
		if len(hosts) > 0 {
			g.homeName = hosts[0]
		}
	}
	return g
}

// normHost lower-cases a host or host:port and strips the brackets of a
// bare IPv6 host ("[::1]" → "::1").
func normHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return h
}

// homeHosts returns the host:port forms Home opens.
func homeHosts(home string) []string {
	home = strings.TrimSpace(home)
	if home == "" {
		return nil
	}
	if !strings.Contains(home, "://") {
		return []string{normHost(home)}
	}
	u, err := url.Parse(home)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" {
		return []string{net.JoinHostPort(host, p)}
	}
	return []string{net.JoinHostPort(host, "80"), net.JoinHostPort(host, "443")}
}

// accessFor says what the host of target (host:port, or a bare host) may
// reach.
func (g *Guard) accessFor(target string) access {
	target = strings.ToLower(target)
	host := hostOf(target)
	if g.open[target] || g.open[host] {
		return accessAll
	}
	if g.anyPrivate || g.home[target] || g.home[host] {
		return accessPrivate
	}
	return accessPublic
}

// decide refuses ip for a host with the access a, or returns nil.
func (g *Guard) decide(a access, host, addr string, ip netip.Addr) error {
	if a == accessAll {
		return nil
	}
	reason, sensitive := classify(ip)
	switch {
	case reason == "":
		return nil
	case a == accessPrivate && !sensitive:
		return nil
	case a == accessPrivate:
		return &BlockedError{Host: host, Addr: addr, Reason: reason,
			Hint: "allow_private never opens link-local or cloud metadata addresses; name the host in allow_hosts to reach it"}
	case g.anyPrivate || len(g.home) > 0:
		return &BlockedError{Host: host, Addr: addr, Reason: reason,
			Hint: fmt.Sprintf("allow_private opens only the source's own host (%s) and allow_hosts, not %s", g.homeName, host)}
	}
	return &BlockedError{Host: host, Addr: addr, Reason: reason}
}

// Decide is the dial-time decision: may a connection asked for target (the
// host:port of the URL) be made over network to the resolved address
// (ip:port)? It returns a *BlockedError or nil.
func (g *Guard) Decide(target, network, address string) error {
	a := g.accessFor(target)
	host := hostOf(target)
	if a == accessAll {
		return nil
	}
	switch network {
	case "tcp4", "tcp6":
	default:
		return &BlockedError{Host: host, Addr: address, Reason: "network " + network}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Host: host, Addr: address, Reason: "unparseable"}
	}
	return g.decide(a, host, address, ap.Addr())
}

// Check resolves the host of hostport and returns a *BlockedError when the
// guard would refuse one of its addresses. It is an early, clearer refusal
// (before a browser navigates, or for a browser's subresource); where the
// guard can dial itself, the dial-time check stays the rule.
func (g *Guard) Check(ctx context.Context, hostport string) error {
	a := g.accessFor(hostport)
	if a == accessAll {
		return nil
	}
	host := hostOf(hostport)
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if addrs, err = net.DefaultResolver.LookupNetIP(lctx, "ip", host); err != nil {
			return fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	for _, ip := range addrs {
		if err := g.decide(a, host, ip.String(), ip); err != nil {
			return err
		}
	}
	return nil
}

// CheckURL is Check for the host of u, with the scheme's default port when
// u names none (http and ws 80, https and wss 443).
func (g *Guard) CheckURL(ctx context.Context, u *url.URL) error {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https", "wss":
			port = "443"
		default:
			port = "80"
		}
	}
	return g.Check(ctx, net.JoinHostPort(u.Hostname(), port))
}

// DialOptions configure a guarded dialer.
type DialOptions struct {
	// Timeout bounds the connect (default 30s).
	Timeout time.Duration
	// After, when set, is called with every address the guard let
	// through, just before connect; an error refuses it. Tests use it as a
	// safety net proving that nothing but loopback is ever dialled.
	After func(network, address string) error
}

type targetKey struct{}

// DialFunc returns a DialContext that refuses, in the dialer's Control
// (after name resolution, on every address tried, before connect(2)),
// whatever Decide refuses. Literal addresses are judged there too: one
// place decides.
func (g *Guard) DialFunc(o DialOptions) func(ctx context.Context, network, addr string) (net.Conn, error) {
	timeout := o.Timeout
	if timeout <= 0 || timeout > 30*time.Second {
		timeout = 30 * time.Second
	}
	d := &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		ControlContext: func(ctx context.Context, network, address string, _ syscall.RawConn) error {
			target, _ := ctx.Value(targetKey{}).(string)
			if err := g.Decide(target, network, address); err != nil {
				return err
			}
			if o.After != nil {
				return o.After(network, address)
			}
			return nil
		},
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(context.WithValue(ctx, targetKey{}, addr), network, addr)
	}
}
