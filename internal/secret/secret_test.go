package secret

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestScrubberRemovesEveryEncoding(t *testing.T) {
	const user, pass = "user", "p@ss/wörd+1=?"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	s := NewScrubber().AddCredentials(user, pass)
	tests := []struct {
		name, leak string
	}{
		{"raw", pass},
		{"std base64 (LOGIN)", b64(pass)},
		{"raw std base64", base64.RawStdEncoding.EncodeToString([]byte(pass))},
		{"url base64", base64.URLEncoding.EncodeToString([]byte(pass))},
		{"raw url base64", base64.RawURLEncoding.EncodeToString([]byte(pass))},
		{"AUTH PLAIN blob", b64("\x00" + user + "\x00" + pass)},
		{"AUTH PLAIN blob, raw", base64.RawStdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))},
		{"AUTH PLAIN blob with identity", b64(user + "\x00" + user + "\x00" + pass)},
		{"HTTP basic", b64(user + ":" + pass)},
		{"path escaped", url.PathEscape(pass)},
		{"query escaped", url.QueryEscape(pass)},
		{"decoded PLAIN blob", "\x00" + user + "\x00" + pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Scrub("535 5.7.8 bad credentials " + tt.leak + " (again: " + tt.leak + ")")
			if strings.Contains(got, tt.leak) {
				t.Fatalf("leak survived: %q", got)
			}
			if !strings.Contains(got, Placeholder) || !strings.HasPrefix(got, "535 5.7.8 bad credentials ") {
				t.Fatalf("want the text kept around a placeholder, got %q", got)
			}
			// No fragment of an encoding may survive either (a padded form
			// scrubbed only up to its raw prefix leaves "==").
			if strings.Contains(got, Placeholder+"=") {
				t.Fatalf("padding left behind: %q", got)
			}
		})
	}
}

func TestScrubberKeepsOtherText(t *testing.T) {
	tests := []struct {
		name string
		s    *Scrubber
		in   string
		want string
	}{
		{"nil scrubber", nil, "secret stays", "secret stays"},
		{"zero scrubber", &Scrubber{}, "secret stays", "secret stays"},
		{"empty secret ignored", NewScrubber(""), "a b", "a b"},
		{"user name stays", NewScrubber().AddCredentials("alice", "hunter2"), "auth for alice: hunter2", "auth for alice: <secret>"},
		{"named placeholder", NewScrubber().AddNamed("https://hooks.example/T0/B1/xyz", "<webhook url>"),
			`Post "https://hooks.example/T0/B1/xyz": timeout`, `Post "<webhook url>": timeout`},
		{"several secrets", NewScrubber("tok1", "tok2"), "tok1 and tok2", "<secret> and <secret>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Scrub(tt.in); got != tt.want {
				t.Fatalf("Scrub(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestErrDoesNotWrap(t *testing.T) {
	inner := errors.New("reply: hunter2")
	err := NewScrubber("hunter2").Err(inner)
	if err.Error() != "reply: <secret>" || errors.Is(err, inner) || errors.Unwrap(err) != nil {
		t.Fatalf("Err = %v (unwraps to %v)", err, errors.Unwrap(err))
	}
	if NewScrubber("x").Err(nil) != nil {
		t.Fatal("Err(nil) != nil")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://elastic:s3cret@es.example:9200", "https://elastic:xxxxx@es.example:9200"},
		{"https://es.example:9200", "https://es.example:9200"},
		{"http://[::1:9200", "<unparsable address>"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
