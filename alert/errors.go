package alert

import (
	"errors"
	"fmt"
)

// PermanentError marks a delivery error that trying again will not fix:
// the relay refused this message for good (a 5xx answer to MAIL FROM,
// RCPT TO or DATA), the route resolves to nobody, a webhook answered that
// it does not exist. The dispatcher moves such a notification to the dead
// letters at once and raises an operator alert, instead of retrying it
// until dead_after.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Retryable reports whether a delivery that failed with err may succeed
// later. Errors are retryable unless a sender marked them permanent:
// timeouts, refused connections, 4xx answers, and everything unknown.
func Retryable(err error) bool {
	var p *PermanentError
	return err != nil && !errors.As(err, &p)
}

// AuthError is the relay refusing our SMTP credentials. Its text is fixed:
// servers echo the AUTH argument in their reply, and that argument is the
// base64 of the user name and password, so the reply is never kept. It is
// retryable: wrong credentials are a fault of the whole channel that the
// operator fixes in the config, after which the waiting alerts go out;
// dead-lettering every alert of a password rotation would lose them into
// manual resends.
type AuthError struct {
	// Code is the reply code (e.g. 535, or 454 for a temporary failure);
	// zero when the connection failed during the exchange.
	Code int
}

func (e *AuthError) Error() string {
	if e.Code == 0 {
		return "smtp authentication failed (server reply withheld)"
	}
	return fmt.Sprintf("smtp authentication failed (server reply withheld; code %d)", e.Code)
}
