package config

import (
	"fmt"
	"net/mail"
	"net/url"
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
	// DeadAfter: a notification still undelivered this long after its first
	// failure becomes a dead letter and raises an operator alert.
	DeadAfter time.Duration `mapstructure:"dead_after"`
	// SendLease is how long a claimed notification waits before another
	// attempt: a daemon that died mid-send has its mail sent again after it.
	SendLease time.Duration `mapstructure:"send_lease"`
	// OperatorTo receive operator alerts (dead letters, failing sources);
	// default: To.
	OperatorTo []string `mapstructure:"operator_to"`
	// GroupWindow: alerts of one thread or one author within this window go
	// into one mail (0 sends each alone).
	GroupWindow time.Duration `mapstructure:"group_window"`
	// GroupMax caps the alerts in one grouped mail.
	GroupMax int `mapstructure:"group_max"`
	// MaxPerHour caps the immediate mails of one route per hour; beyond it,
	// alerts roll into an hourly overflow digest, so a burst of any size
	// gives at most MaxPerHour+1 mails per route and hour.
	MaxPerHour int `mapstructure:"max_per_hour"`
	// KibanaURL, when set, adds a Kibana Discover link to each alert.
	KibanaURL string `mapstructure:"kibana_url"`
	// EvidenceURL, when set, is the base URL under which the evidence folder
	// is served; alerts link to bundles below it.
	EvidenceURL string `mapstructure:"evidence_url"`
	// TemplatesDir holds ja.tmpl / en.tmpl overriding the shipped templates.
	TemplatesDir string `mapstructure:"templates_dir"`
	// Routes send alerts to recipients; none configured means one route
	// "legal" to To for everything at or above MinSeverity.
	Routes []Route `mapstructure:"routes"`
	// Escalation sets the persistent-author and spike thresholds.
	Escalation EscalationConfig `mapstructure:"escalation"`
}

// Route modes.
const (
	ModeImmediate = "immediate"
	ModeHourly    = "hourly"
	ModeDaily     = "daily"
)

// Route decides who receives which alerts, and how.
type Route struct {
	// Name identifies the route in the outbox; never rename a live one.
	Name string `mapstructure:"name"`
	// To are e-mail recipients.
	To []string `mapstructure:"to"`
	// ToStaffContacts adds the contacts of the staff targets named in the
	// alert (their manager, HR), from targets[].contacts.
	ToStaffContacts bool `mapstructure:"to_staff_contacts"`
	// Webhook posts the alert to a Slack or Teams incoming webhook URL
	// instead of mailing it.
	Webhook string `mapstructure:"webhook"`
	// WebhookFormat is slack (default) or teams.
	WebhookFormat string `mapstructure:"webhook_format"`
	// MinSeverity is the lowest severity this route takes.
	MinSeverity mention.Severity `mapstructure:"min_severity"`
	// Categories, TargetKinds, Targets and Kinds filter (empty: any).
	Categories  []string `mapstructure:"categories"`
	TargetKinds []string `mapstructure:"target_kinds"`
	Targets     []string `mapstructure:"targets"`
	// Kinds of alert: new, severity_up, persistent_author, spike,
	// evidence_secured (empty: all). A route taking new also takes
	// evidence_secured: the follow-up of a post it was told about.
	Kinds []string `mapstructure:"kinds"`
	// Mode is immediate (default), hourly or daily (a digest).
	Mode string `mapstructure:"mode"`
	// Language overrides alert.language for this route.
	Language string `mapstructure:"language"`
	// NoAttachments leaves the evidence files out of this route's mails
	// (routes outside the legal team).
	NoAttachments bool `mapstructure:"no_attachments"`
}

// EscalationConfig sets when the policy's escalations alert.
type EscalationConfig struct {
	// PersistentWindow and PersistentThreshold: this many alertable posts by
	// one author about one target within the window (執拗な言動).
	PersistentWindow    time.Duration `mapstructure:"persistent_window"`
	PersistentThreshold int           `mapstructure:"persistent_threshold"`
	// AnonymousAuthors never count as one author.
	AnonymousAuthors []string `mapstructure:"anonymous_authors"`
	// SpikeWindow: mentions of a target in this window are compared with
	// the rate over SpikeBaseline before it (炎上).
	SpikeWindow   time.Duration `mapstructure:"spike_window"`
	SpikeBaseline time.Duration `mapstructure:"spike_baseline"`
	// SpikeMinCount mentions at least, and SpikeFactor times the baseline.
	SpikeMinCount int     `mapstructure:"spike_min_count"`
	SpikeFactor   float64 `mapstructure:"spike_factor"`
}

// EffectiveRoutes returns the configured routes, or the default route.
func (a AlertConfig) EffectiveRoutes() []Route {
	if len(a.Routes) > 0 {
		return a.Routes
	}
	return []Route{{Name: "legal", To: a.To, MinSeverity: a.MinSeverity, Mode: ModeImmediate}}
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
	if a.SendLease < time.Second {
		add("alert.send_lease", "must be at least 1s")
	}
	if a.DeadAfter <= 0 {
		add("alert.dead_after", "must be positive")
	}
	if a.GroupWindow < 0 || a.GroupMax <= 0 {
		add("alert.group_window", "group_window must not be negative and group_max must be positive")
	}
	if a.MaxPerHour <= 0 {
		add("alert.max_per_hour", "must be positive")
	}
	for i, to := range a.OperatorTo {
		if _, err := mail.ParseAddress(to); err != nil {
			add(fmt.Sprintf("alert.operator_to[%d]", i), "not an e-mail address: %q", to)
		}
	}
	for _, u := range []struct{ key, val string }{{"alert.kibana_url", a.KibanaURL}, {"alert.evidence_url", a.EvidenceURL}} {
		if u.val != "" && !isHTTPURL(u.val) {
			add(u.key, "not an absolute http(s) URL")
		}
	}
	names := map[string]bool{}
	for i, r := range a.Routes {
		k := fmt.Sprintf("alert.routes[%d]", i)
		if r.Name == "" {
			add(k+".name", "must not be empty")
		} else if r.Name == "operator" {
			add(k+".name", "\"operator\" is reserved for operator alerts (set alert.operator_to)")
		} else if names[r.Name] {
			add(k+".name", "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
		if len(r.To) == 0 && r.Webhook == "" && !r.ToStaffContacts {
			add(k, "needs to, to_staff_contacts or webhook")
		}
		for j, to := range r.To {
			if _, err := mail.ParseAddress(to); err != nil {
				add(fmt.Sprintf("%s.to[%d]", k, j), "not an e-mail address: %q", to)
			}
		}
		if r.Webhook != "" && !isHTTPURL(r.Webhook) {
			add(k+".webhook", "not an absolute http(s) URL")
		}
		switch r.WebhookFormat {
		case "", "slack", "teams":
		default:
			add(k+".webhook_format", "%q is not slack or teams", r.WebhookFormat)
		}
		if r.MinSeverity != "" && !r.MinSeverity.Valid() {
			add(k+".min_severity", "%q is not info, medium, high or critical", r.MinSeverity)
		}
		switch r.Mode {
		case "", ModeImmediate, ModeHourly, ModeDaily:
		default:
			add(k+".mode", "%q is not immediate, hourly or daily", r.Mode)
		}
		if r.Language != "" && r.Language != "ja" && r.Language != "en" {
			add(k+".language", "%q is not ja or en", r.Language)
		}
		for j, kind := range r.Kinds {
			switch kind {
			case "new", "severity_up", "persistent_author", "spike", "evidence_secured":
			default:
				add(fmt.Sprintf("%s.kinds[%d]", k, j), "%q is not new, severity_up, persistent_author, spike or evidence_secured", kind)
			}
		}
	}
	e := a.Escalation
	if e.PersistentThreshold < 0 || e.PersistentWindow < 0 {
		add("alert.escalation.persistent_threshold", "must not be negative")
	}
	if e.SpikeWindow < 0 || e.SpikeBaseline < e.SpikeWindow || e.SpikeFactor < 0 || e.SpikeMinCount < 0 {
		add("alert.escalation.spike_window", "spike_window must not be negative, spike_baseline not below it, factor and min count not negative")
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

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
