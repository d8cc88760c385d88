package config

import (
	"fmt"
	"net/mail"
	"time"

	"mimamori/mention"
)

// AlertConfig configures alerts.
type AlertConfig struct {
	// To are the legal team's addresses.
	To []string `mapstructure:"to"`
	// From is the sender address.
	From string `mapstructure:"from"`
	// Language of the e-mail: ja (default) or en.
	Language string `mapstructure:"language"`
	// OutboxDir receives .eml files when no SMTP host is configured.
	OutboxDir string `mapstructure:"outbox_dir"`
	// MinSeverity is the lowest severity that alerts.
	MinSeverity mention.Severity `mapstructure:"min_severity"`
	// RetryInitial is the first retry delay of an undelivered alert.
	RetryInitial time.Duration `mapstructure:"retry_initial"`
	// RetryMax caps the retry delay.
	RetryMax time.Duration `mapstructure:"retry_max"`
	// AttachRawMaxBytes caps the raw page attached to a mail.
	AttachRawMaxBytes int64 `mapstructure:"attach_raw_max_bytes"`
}

// SMTP TLS modes.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

// SMTPConfig is the mail relay.
type SMTPConfig struct {
	// Host of the relay; empty means use the file outbox.
	Host string `mapstructure:"host"`
	// Port of the relay.
	Port int `mapstructure:"port"`
	// Username for SMTP auth (optional).
	Username string `mapstructure:"username"`
	// Password for SMTP auth.
	Password Secret `mapstructure:"password"`
	// TLS is starttls (default), tls or none (loopback test servers only).
	TLS string `mapstructure:"tls"`
	// Timeout bounds one delivery.
	Timeout time.Duration `mapstructure:"timeout"`
}

// validateAlert checks alert and SMTP settings.
func (c *Config) validateAlert() []FieldError {
	var errs []FieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	a := c.Alert
	for i, to := range a.To {
		if _, err := mail.ParseAddress(to); err != nil {
			add(fmt.Sprintf("alert.to[%d]", i), "not an e-mail address: %q", to)
		}
	}
	if _, err := mail.ParseAddress(a.From); err != nil {
		add("alert.from", "not an e-mail address: %q", a.From)
	}
	if a.Language != "ja" && a.Language != "en" {
		add("alert.language", "%q is not ja or en", a.Language)
	}
	if !a.MinSeverity.Valid() || a.MinSeverity == mention.SeverityInfo {
		add("alert.min_severity", "%q is not medium, high or critical", a.MinSeverity)
	}
	if a.RetryInitial <= 0 || a.RetryMax < a.RetryInitial {
		add("alert.retry_initial", "must be positive and not above alert.retry_max")
	}
	if c.SMTP.Host != "" {
		if len(a.To) == 0 {
			add("alert.to", "at least one recipient is required when smtp.host is set")
		}
		if c.SMTP.Port <= 0 || c.SMTP.Port > 65535 {
			add("smtp.port", "must be between 1 and 65535")
		}
		switch c.SMTP.TLS {
		case TLSStartTLS, TLSImplicit, TLSNone:
		default:
			add("smtp.tls", "%q is not starttls, tls or none", c.SMTP.TLS)
		}
		if c.SMTP.Password != "" && c.SMTP.Username == "" {
			add("smtp.username", "required when smtp.password is set")
		}
	}
	return errs
}
