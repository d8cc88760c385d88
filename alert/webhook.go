package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"mimamori/internal/secret"
)

// WebhookSender posts notifications to Slack or Teams incoming webhooks.
// It has the same guarantees as mail: the outbox retries until a 2xx.
type WebhookSender struct {
	client *http.Client
}

// NewWebhookSender returns a sender with a timeout per post.
func NewWebhookSender(timeout time.Duration) *WebhookSender {
	return &WebhookSender{client: &http.Client{Timeout: timeout}}
}

// Post sends subject and body to url in format (slack or teams).
func (w *WebhookSender) Post(ctx context.Context, url, format, id, subject, body string) error {
	var payload any
	switch format {
	case "teams":
		payload = map[string]any{"@type": "MessageCard", "@context": "https://schema.org/extensions",
			"summary": subject, "title": subject, "text": strings.ReplaceAll(body, "\n", "\n\n")}
	default:
		payload = map[string]any{"text": "*" + subject + "*\n" + body}
	}
	data, _ := json.Marshal(payload)
	scrub := webhookScrubber(url)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return Permanent(fmt.Errorf("webhook for %s: %w", id, scrub.Err(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", id)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook for %s: %w", id, scrub.Err(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		err := fmt.Errorf("webhook for %s: %s: %s", id, resp.Status, scrub.Scrub(strings.TrimSpace(string(msg))))
		if webhookPermanent(resp.StatusCode) {
			return Permanent(err)
		}
		return err
	}
	return nil
}

// webhookScrubber keeps the webhook URL (a secret: it carries the token)
// out of errors, in the form it was configured in, as the HTTP client
// prints it, and its path (the token) on its own.
func webhookScrubber(raw string) *secret.Scrubber {
	s := secret.NewScrubber().AddNamed(raw, "<webhook url>")
	if u, err := neturl.Parse(raw); err == nil {
		s.AddNamed(u.String(), "<webhook url>")
		if len(u.EscapedPath()) > 1 {
			s.AddNamed(u.EscapedPath(), "<webhook path>")
		}
		if u.RawQuery != "" {
			s.AddNamed(u.RawQuery, "<webhook query>")
		}
	}
	return s
}

// webhookPermanent: a 4xx answer other than a timeout or a rate limit
// means the hook is gone, forbidden or refuses our payload (Slack: 404
// no_service, 410 channel_is_archived, 403 action_prohibited); retrying
// will not change that. 5xx, 408, 425 and 429 are worth retrying.
func webhookPermanent(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return status/100 == 4
}
