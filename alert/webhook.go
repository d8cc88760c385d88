package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("webhook for %s: %w", id, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", id)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook for %s: %w", id, redactURL(err, url))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook for %s: %s: %s", id, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// redactURL keeps the webhook URL (a secret: it carries the token) out of
// errors.
func redactURL(err error, url string) error {
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), url, "<webhook url>"))
}
