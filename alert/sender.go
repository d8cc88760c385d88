package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"mimamori/config"
	"mimamori/internal/secret"
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
	cfg   config.SMTPConfig
	scrub *secret.Scrubber
}

// NewSMTPSender returns a sender for the relay in cfg.
func NewSMTPSender(cfg config.SMTPConfig) *SMTPSender {
	return &SMTPSender{cfg: cfg, scrub: secret.NewScrubber().AddCredentials(cfg.Username, cfg.Password.Reveal())}
}

// Name implements Sender.
func (s *SMTPSender) Name() string { return fmt.Sprintf("smtp %s:%d", s.cfg.Host, s.cfg.Port) }

// Send implements Sender. Its errors carry no secret in any encoding: a
// refused login becomes an *AuthError without the server's reply, and
// every other text goes through the scrubber. Errors the relay means for
// good (5xx to the mail transaction, no usable recipient) are
// *PermanentError.
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
	var auth *watchedAuth
	if s.cfg.Username != "" {
		auth = &watchedAuth{Auth: smtp.PlainAuth("", s.cfg.Username, s.cfg.Password.Reveal(), s.cfg.Host, false)}
		opts = append(opts, mail.WithSMTPAuthCustom(auth))
	}
	where := fmt.Sprintf("send alert %s via smtp %s:%d", alertID, s.cfg.Host, s.cfg.Port)
	c, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("%s: %w", where, s.scrub.Err(err))
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if err == nil {
		return nil
	}
	if auth != nil && auth.refused() {
		ae := &AuthError{}
		var reply *textproto.Error
		if errors.As(err, &reply) {
			ae.Code = reply.Code
		}
		return fmt.Errorf("%s: %w", where, ae)
	}
	out := fmt.Errorf("%s: %w", where, s.scrub.Err(err))
	if smtpPermanent(err) {
		return Permanent(out)
	}
	return out
}

// watchedAuth is an SMTP auth that knows whether the server refused it:
// the exchange began (Start succeeded, so AUTH went out) and never got to
// the final 235 (Next with more=false).
type watchedAuth struct {
	smtp.Auth
	started, accepted bool
}

func (a *watchedAuth) Start(si *smtp.ServerInfo) (string, []byte, error) {
	mech, resp, err := a.Auth.Start(si)
	a.started = err == nil
	return mech, resp, err
}

func (a *watchedAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		a.accepted = true
	}
	return a.Auth.Next(fromServer, more)
}

func (a *watchedAuth) refused() bool { return a.started && !a.accepted }

// smtpPermanent reports whether go-mail's err means the relay refused the
// message for good: a 5xx answer within the mail transaction, or a
// message without sender or recipients. Failures before the transaction
// (connecting, greeting, STARTTLS) and 4xx answers are worth retrying.
func smtpPermanent(err error) bool {
	if errors.Is(err, mail.ErrNoRcptAddresses) {
		return true
	}
	var se *mail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
		return true
	case mail.ErrSMTPMailFrom, mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrSMTPDataClose:
		return !se.IsTemp() && se.ErrorCode()/100 == 5
	}
	return false
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
