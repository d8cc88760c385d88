package netguard

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestBlockReason(t *testing.T) {
	cases := []struct {
		addr      string
		want      string // "" means allowed
		sensitive bool
	}{
		{"127.0.0.1", "loopback", false},
		{"127.255.0.9", "loopback", false},
		{"::1", "loopback", false},
		{"0.0.0.0", "unspecified", false},
		{"0.1.2.3", "unspecified", false},
		{"::", "unspecified", false},
		{"10.0.0.1", "private", false},
		{"172.16.5.4", "private", false},
		{"172.31.255.255", "private", false},
		{"192.168.1.1", "private", false},
		{"169.254.169.254", "link-local (cloud metadata)", true},
		{"169.254.1.1", "link-local", true},
		{"169.254.170.2", "link-local", true}, // ECS task metadata
		{"100.64.0.1", "shared (CGNAT)", false},
		{"100.127.255.254", "shared (CGNAT)", false},
		{"100.100.100.200", "shared (CGNAT) (cloud metadata)", true}, // Alibaba
		{"224.0.0.1", "multicast", false},
		{"239.1.1.1", "multicast", false},
		{"255.255.255.255", "reserved", false},
		{"240.0.0.1", "reserved", false},
		{"198.18.0.1", "benchmarking", false},
		{"198.19.255.1", "benchmarking", false},
		{"192.0.0.170", "IETF protocol assignment", false},
		{"fc00::1", "unique local (private)", false},
		{"fd12:3456::1", "unique local (private)", false},
		{"fd00:ec2::254", "unique local (cloud metadata)", true}, // AWS over IPv6
		{"fe80::1", "link-local", true},
		{"fe80::1%eth0", "link-local", true},
		{"febf::1", "link-local", true},
		{"fec0::1", "site-local", false},
		{"feff::1", "site-local", false},
		{"ff02::1", "multicast", false},
		{"ff05::2", "multicast", false},
		{"100::1", "discard-only", false},
		{"100::ffff:ffff:ffff:ffff", "discard-only", false},
		{"::ffff:127.0.0.1", "loopback", false}, // IPv4-mapped
		{"::ffff:169.254.169.254", "link-local (cloud metadata)", true},
		{"::ffff:10.1.2.3", "private", false},
		{"::127.0.0.1", "IPv4-compatible", false},
		{"::a9fe:a9fe", "IPv4-compatible", true}, // 169.254.169.254
		{"::8.8.8.8", "IPv4-compatible", false},
		{"64:ff9b::a00:1", "private (NAT64)", false},   // 10.0.0.1
		{"64:ff9b::7f00:1", "loopback (NAT64)", false}, // 127.0.0.1
		{"64:ff9b::a9fe:a9fe", "link-local (cloud metadata) (NAT64)", true},
		{"64:ff9b:1::1", "local-use NAT64", false},
		{"2002:7f00:1::", "loopback (6to4)", false}, // 127.0.0.1
		{"2002:7f00:1::1", "loopback (6to4)", false},
		{"2002:c0a8:101::1", "private (6to4)", false}, // 192.168.1.1
		{"2002:a9fe:a9fe::1", "link-local (cloud metadata) (6to4)", true},
		// Public addresses pass.
		{"93.184.215.14", "", false},
		{"8.8.8.8", "", false},
		{"172.32.0.1", "", false},
		{"100.128.0.1", "", false},
		{"2606:4700:4700::1111", "", false},
		{"64:ff9b::808:808", "", false}, // NAT64 of 8.8.8.8
		{"::ffff:8.8.8.8", "", false},
		{"2002:808:808::1", "", false}, // 6to4 of 8.8.8.8
		{"101::1", "", false},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.addr)
		if got := BlockReason(ip); got != c.want {
			t.Errorf("BlockReason(%s) = %q, want %q", c.addr, got, c.want)
		}
		if got := Sensitive(ip); got != c.sensitive {
			t.Errorf("Sensitive(%s) = %v, want %v", c.addr, got, c.sensitive)
		}
	}
}

// TestDecide is the dial-time decision of each kind of policy.
func TestDecide(t *testing.T) {
	public := Policy{}
	private := Policy{AllowPrivate: true, Home: "http://intranet.example:8080/feed"}
	privateNoPort := Policy{AllowPrivate: true, Home: "http://wiki.example/"}
	anyPrivate := Policy{AllowPrivate: true}
	hosts := Policy{AllowHosts: []string{"intranet.example", "127.0.0.1:9000", "[::1]", "169.254.169.254"}}
	privateAndMeta := Policy{AllowPrivate: true, Home: "http://127.0.0.1:8080/", AllowHosts: []string{"metadata.internal"}}
	cases := []struct {
		name    string
		p       Policy
		target  string // host:port asked for
		network string
		addr    string // resolved
		reason  string // "" means allowed
	}{
		{"public to public", public, "example.com:443", "tcp4", "93.184.215.14:443", ""},
		{"public to loopback", public, "example.com:80", "tcp4", "127.0.0.1:80", "loopback"},
		{"public to metadata", public, "169.254.169.254:80", "tcp4", "169.254.169.254:80", "link-local (cloud metadata)"},
		{"public, udp", public, "example.com:53", "udp4", "93.184.215.14:53", "network udp4"},
		{"public to fec0", public, "[fec0::1]:80", "tcp6", "[fec0::1]:80", "site-local"},
		{"public to 6to4 loopback", public, "x.example:80", "tcp6", "[2002:7f00:1::]:80", "loopback (6to4)"},

		{"home private", private, "intranet.example:8080", "tcp4", "10.1.2.3:8080", ""},
		{"home loopback", private, "INTRANET.example:8080", "tcp4", "127.0.0.1:8080", ""},
		{"home resolving to metadata", private, "intranet.example:8080", "tcp4", "169.254.169.254:8080", "link-local (cloud metadata)"},
		{"home resolving to link-local v6", private, "intranet.example:8080", "tcp6", "[fe80::1]:8080", "link-local"},
		{"home resolving to Alibaba metadata", private, "intranet.example:8080", "tcp4", "100.100.100.200:8080", "shared (CGNAT) (cloud metadata)"},
		{"home, other port", private, "intranet.example:9090", "tcp4", "10.1.2.3:9090", "private"},
		{"other private host", private, "db.example:8080", "tcp4", "10.1.2.4:8080", "private"},
		{"metadata literal", private, "169.254.169.254:80", "tcp4", "169.254.169.254:80", "link-local (cloud metadata)"},
		{"home public", private, "cdn.example:443", "tcp4", "93.184.215.14:443", ""},
		{"home without port: 80", privateNoPort, "wiki.example:80", "tcp4", "10.0.0.9:80", ""},
		{"home without port: 443", privateNoPort, "wiki.example:443", "tcp4", "10.0.0.9:443", ""},
		{"home without port: 8443", privateNoPort, "wiki.example:8443", "tcp4", "10.0.0.9:8443", "private"},

		{"any private", anyPrivate, "whatever:1", "tcp4", "192.168.0.1:1", ""},
		{"any private, metadata", anyPrivate, "169.254.169.254:80", "tcp4", "169.254.169.254:80", "link-local (cloud metadata)"},
		{"any private, v6 metadata", anyPrivate, "[fd00:ec2::254]:80", "tcp6", "[fd00:ec2::254]:80", "unique local (cloud metadata)"},

		{"allow host, any port", hosts, "intranet.example:1234", "tcp4", "10.0.0.1:1234", ""},
		{"allow host:port", hosts, "127.0.0.1:9000", "tcp4", "127.0.0.1:9000", ""},
		{"allow host:port, other port", hosts, "127.0.0.1:9001", "tcp4", "127.0.0.1:9001", "loopback"},
		{"allow bracketed v6", hosts, "[::1]:80", "tcp6", "[::1]:80", ""},
		{"metadata named explicitly", hosts, "169.254.169.254:80", "tcp4", "169.254.169.254:80", ""},
		{"metadata host named explicitly", privateAndMeta, "metadata.internal:80", "tcp4", "169.254.169.254:80", ""},
		{"metadata not named", privateAndMeta, "169.254.169.254:80", "tcp4", "169.254.169.254:80", "link-local (cloud metadata)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := New(c.p).Decide(c.target, c.network, c.addr)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) || be.Reason != c.reason || be.Addr != c.addr {
				t.Fatalf("got %v, want refusal %q of %s", err, c.reason, c.addr)
			}
			if !strings.Contains(err.Error(), "SSRF guard") {
				t.Errorf("error %q does not name the guard", err)
			}
		})
	}
}

// TestCheckURL resolves before any connection (the renderer's check).
func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	home := New(Policy{AllowPrivate: true, Home: "http://127.0.0.1:8080/"})
	cases := []struct {
		g      *Guard
		url    string
		reason string
	}{
		{New(Policy{}), "http://127.0.0.1/", "loopback"},
		{New(Policy{}), "http://localhost:8080/", "loopback"},
		{New(Policy{}), "https://[2002:7f00:1::]/x.css", "loopback (6to4)"},
		{New(Policy{}), "https://[fec0::1]/x.css", "site-local"},
		{New(Policy{}), "http://[100::1]/", "discard-only"},
		{New(Policy{}), "http://[::7f00:1]/", "IPv4-compatible"},
		{New(Policy{}), "http://93.184.215.14/", ""},
		{home, "http://127.0.0.1:8080/style.css", ""},
		{home, "http://127.0.0.1:8081/style.css", "loopback"},
		{home, "http://localhost:8080/style.css", "loopback"},
		{home, "http://169.254.169.254/latest/", "link-local (cloud metadata)"},
		{New(Policy{AllowHosts: []string{"localhost"}}), "ws://localhost/", ""},
	}
	for _, c := range cases {
		u, _ := url.Parse(c.url)
		err := c.g.CheckURL(ctx, u)
		if c.reason == "" {
			if err != nil {
				t.Errorf("%s refused: %v", c.url, err)
			}
			continue
		}
		var be *BlockedError
		if !errors.As(err, &be) || be.Reason != c.reason {
			t.Errorf("%s: %v, want %q", c.url, err, c.reason)
		}
	}
}
