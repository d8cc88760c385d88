package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wneessen/go-mail"

	"mimamori/config"
)

// Sender delivers one rendered alert.
type Sender interface {
	// Name says where mail goes ("smtp host:port", "outbox DIR").
	Name() string
	// Send delivers msg. alertID is deterministic per alert, so a sender
	// can make a repeated delivery harmless.
	Send(ctx context.Context, alertID string, msg *mail.Msg) error
}

// SMTPSender delivers over SMTP.
type SMTPSender struct {
	cfg config.SMTPConfig
}

// NewSMTPSender returns a sender for the relay in cfg.
func NewSMTPSender(cfg config.SMTPConfig) *SMTPSender { return &SMTPSender{cfg: cfg} }

// Name implements Sender.
func (s *SMTPSender) Name() string { return fmt.Sprintf("smtp %s:%d", s.cfg.Host, s.cfg.Port) }

// Send implements Sender.
func (s *SMTPSender) Send(ctx context.Context, alertID string, msg *mail.Msg) error {
	opts := []mail.Option{mail.WithPort(s.cfg.Port), mail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case config.TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case config.TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(s.cfg.Username),
			mail.WithPassword(s.cfg.Password.Reveal()))
	}
	c, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send alert %s via smtp %s:%d: %s", alertID, s.cfg.Host, s.cfg.Port, scrub(err.Error(), s.cfg.Password.Reveal()))
	}
	return nil
}

// scrub removes a secret from an error text, in case a library echoes it.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "<secret>")
}

// FileOutbox writes each alert as an .eml file into a folder, for a single
// machine with no mail relay. A file is written whole (temp file, sync,
// rename) and never overwritten: sending the same alert again is a no-op.
type FileOutbox struct {
	dir string
}

// NewFileOutbox returns an outbox writing into dir.
func NewFileOutbox(dir string) *FileOutbox { return &FileOutbox{dir: dir} }

// Name implements Sender.
func (o *FileOutbox) Name() string { return "outbox " + o.dir }

// Path returns where the alert's file is written.
func (o *FileOutbox) Path(alertID string) string { return filepath.Join(o.dir, alertID+".eml") }

// Send implements Sender.
func (o *FileOutbox) Send(ctx context.Context, alertID string, msg *mail.Msg) error {
	if err := os.MkdirAll(o.dir, 0o750); err != nil {
		return fmt.Errorf("write alert %s to outbox: %w", alertID, err)
	}
	final := o.Path(alertID)
	if _, err := os.Stat(final); err == nil {
		return nil // already delivered before a crash; never write twice
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return fmt.Errorf("write alert %s to outbox: render: %w", alertID, err)
	}
	tmp, err := os.CreateTemp(o.dir, ".tmp-"+alertID+"-")
	if err != nil {
		return fmt.Errorf("write alert %s to outbox: %w", alertID, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write alert %s to outbox %s: %w", alertID, o.dir, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write alert %s to outbox %s: %w", alertID, o.dir, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write alert %s to outbox %s: %w", alertID, o.dir, err)
	}
	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return fmt.Errorf("write alert %s to outbox %s: %w", alertID, o.dir, err)
	}
	return nil
}
