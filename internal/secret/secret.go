// Package secret keeps credentials out of error messages, logs and stored
// state (the ledger's last_error, "alerts list").
//
// Servers and libraries echo what they were sent, and not always in the
// form it was configured in: an SMTP server may quote the base64 AUTH PLAIN
// blob it refused, an HTTP library the URL-escaped form of a token in a
// URL. A Scrubber knows a set of secrets and replaces each of them, in
// every such encoding, with a placeholder. It is the one place that
// redaction happens; senders and clients build one from their credentials
// and pass every foreign text through it.
package secret

import (
	"encoding/base64"
	"errors"
	"net/url"
	"sort"
	"strings"
)

// Placeholder replaces a secret unless a caller names it otherwise.
const Placeholder = "<secret>"

// Scrubber replaces known secrets in a text. The zero value (and nil)
// knows no secret and returns texts unchanged. Add secrets before the
// Scrubber is shared; Scrub and Err are then safe for concurrent use.
type Scrubber struct {
	olds map[string]string // encoded form -> placeholder
	r    *strings.Replacer
}

// NewScrubber returns a scrubber for secrets (empty ones are ignored).
func NewScrubber(secrets ...string) *Scrubber {
	s := &Scrubber{}
	for _, v := range secrets {
		s.Add(v)
	}
	return s
}

// Add makes s replace value, in every encoding, with Placeholder.
func (s *Scrubber) Add(value string) *Scrubber { return s.AddNamed(value, Placeholder) }

// AddNamed makes s replace value, in every encoding, with placeholder
// (e.g. "<webhook url>", which says more than Placeholder).
func (s *Scrubber) AddNamed(value, placeholder string) *Scrubber {
	if value == "" {
		return s
	}
	for _, form := range Encodings(value) {
		s.put(form, placeholder)
	}
	s.build()
	return s
}

// AddCredentials makes s replace the password and the blobs that carry a
// user with it: the SMTP AUTH PLAIN response ("\x00user\x00pass", and
// "user\x00user\x00pass" with the authorization identity set) and the
// HTTP Basic "user:pass", each in every encoding. LOGIN sends the password
// base64-encoded on its own, which Add covers. The user name alone is not
// a secret and stays readable.
func (s *Scrubber) AddCredentials(user, password string) *Scrubber {
	if password == "" {
		return s
	}
	s.Add(password)
	for _, blob := range []string{"\x00" + user + "\x00" + password, user + "\x00" + user + "\x00" + password, user + ":" + password} {
		for _, form := range Encodings(blob) {
			s.put(form, Placeholder)
		}
	}
	s.build()
	return s
}

// Encodings returns value in each form a protocol may echo it: raw,
// standard and URL base64 (padded and raw), URL path and query escaped.
// Duplicates are removed.
func Encodings(value string) []string {
	if value == "" {
		return nil
	}
	b := []byte(value)
	forms := []string{value,
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		url.PathEscape(value), url.QueryEscape(value)}
	seen := map[string]bool{}
	out := forms[:0]
	for _, f := range forms {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func (s *Scrubber) put(form, placeholder string) {
	if s.olds == nil {
		s.olds = map[string]string{}
	}
	s.olds[form] = placeholder
}

// build makes the replacer. Longer forms come first, so that a padded
// base64 form wins over its raw prefix and a blob over the password in it.
func (s *Scrubber) build() {
	forms := make([]string, 0, len(s.olds))
	for f := range s.olds {
		forms = append(forms, f)
	}
	sort.Slice(forms, func(i, j int) bool {
		if len(forms[i]) != len(forms[j]) {
			return len(forms[i]) > len(forms[j])
		}
		return forms[i] < forms[j]
	})
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, s.olds[f])
	}
	s.r = strings.NewReplacer(pairs...)
}

// Scrub returns text with every known secret replaced.
func (s *Scrubber) Scrub(text string) string {
	if s == nil || s.r == nil {
		return text
	}
	return s.r.Replace(text)
}

// Err returns an error whose text is err's, scrubbed; nil for nil. It
// deliberately does not wrap err: the chain below would still hold the
// secret for anyone who unwraps and prints it. Classify err (errors.Is,
// errors.As) before scrubbing it.
func (s *Scrubber) Err(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(s.Scrub(err.Error()))
}

// RedactURL hides the password of a URL with user info
// (https://user:pass@host); a text that does not parse as a URL is
// replaced whole, since it may hold anything.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable address>"
	}
	return u.Redacted()
}
