package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"mimamori/mention"
)

// EnvPrefix prefixes every environment override: data_dir is
// MIMAMORI_DATA_DIR, smtp.password is MIMAMORI_SMTP_PASSWORD.
const EnvPrefix = "MIMAMORI"

// Load reads the YAML file at path, applies defaults and MIMAMORI_…
// environment overrides, and validates the result. A *ValidationError lists
// every problem found.
func Load(path string) (Config, error) {
	cfg := Default()
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return cfg, fmt.Errorf("read config %s: %w", path, err)
	}
	keys := scalarKeys(reflect.TypeOf(cfg), "")
	for _, key := range keys {
		env := EnvName(key)
		if err := v.BindEnv(key, env); err != nil {
			return cfg, fmt.Errorf("bind %s: %w", env, err)
		}
	}
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			durationHook,
			byteSizeHook,
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	var errs []FieldError
	if err != nil {
		errs = decodeErrors(err)
	}
	if errs = append(errs, cfg.Validate()...); len(errs) > 0 {
		nameEnvOverrides(errs, keys)
		return cfg, &ValidationError{File: path, Errors: errs}
	}
	return cfg, nil
}

// EnvName returns the environment variable overriding a dotted key:
// smtp.password is MIMAMORI_SMTP_PASSWORD.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// nameEnvOverrides records, on every error about a key whose value came
// from its environment variable, that variable, so the operator looks
// there and not in the file. An empty variable does not override (viper's
// default), so it is not named either.
func nameEnvOverrides(errs []FieldError, keys []string) {
	bound := make(map[string]bool, len(keys))
	for _, k := range keys {
		bound[k] = true
	}
	for i := range errs {
		key := errs[i].Key
		if j := strings.IndexByte(key, '['); j >= 0 {
			key = key[:j] // alert.to[1] comes from MIMAMORI_ALERT_TO
		}
		if !bound[key] {
			continue
		}
		if env := EnvName(key); os.Getenv(env) != "" {
			errs[i].Env = env
		}
	}
}

var durationType = reflect.TypeOf(time.Duration(0))

// durationHook decodes a time.Duration from a Go duration string ("90s",
// "15m"). A bare number is refused, since "timeout: 30" would otherwise
// be 30 nanoseconds; a bare 0 is accepted, being 0 in every unit (several
// keys document 0 as "default" or "off").
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	const hint = "use a Go duration such as 90s or 15m"
	v := reflect.ValueOf(data)
	switch from.Kind() {
	case reflect.String:
		s := strings.TrimSpace(v.String())
		d, err := time.ParseDuration(s)
		if err != nil {
			if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
				return nil, fmt.Errorf("%q has no unit; %s", v.String(), hint)
			}
			return nil, fmt.Errorf("%q is not a duration; %s", v.String(), hint)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if from == durationType {
			return data, nil
		}
		if v.Int() == 0 {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%d has no unit; %s", v.Int(), hint)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() == 0 {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%d has no unit; %s", v.Uint(), hint)
	case reflect.Float32, reflect.Float64:
		if v.Float() == 0 {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v has no unit; %s", v.Float(), hint)
	case reflect.Bool:
		return nil, fmt.Errorf("%v is not a duration; %s", v.Bool(), hint)
	}
	return data, nil
}

// scalarKeys lists the dotted keys of every field that is not a list of
// structs, so each can be bound to an environment variable.
func scalarKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() != "time":
			keys = append(keys, scalarKeys(f.Type, key+".")...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			// lists of targets and sources come from the file only
		default:
			keys = append(keys, key)
		}
	}
	return keys
}

var byteSizeRe = regexp.MustCompile(`^\s*([0-9]+)\s*([KMGT]i?B|B)?\s*$`)

// byteSizeHook turns "10MiB", "512KB" or "1048576" into an int64.
func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Int64 || to == reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	s := data.(string)
	m := byteSizeRe.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("%q is not a size (use e.g. 10MiB)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not a size: %w", s, err)
	}
	mult := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	return n * mult, nil
}

// decodeErrors turns mapstructure's joined error into field errors.
func decodeErrors(err error) []FieldError {
	var out []FieldError
	var de *mapstructure.DecodeError
	var msgs []string
	if errors.As(err, &de) {
		msgs = strings.Split(err.Error(), "\n")
	} else {
		msgs = strings.Split(err.Error(), "\n")
	}
	unused := regexp.MustCompile(`^'([^']*)' has invalid keys: (.*)`)
	for _, m := range msgs {
		m = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m), "*"))
		m = strings.TrimPrefix(m, "decoding failed due to the following error(s):")
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if u := unused.FindStringSubmatch(m); u != nil {
			for _, k := range strings.Split(u[2], ", ") {
				if u[1] != "" {
					k = u[1] + "." + k
				}
				out = append(out, FieldError{Key: k, Problem: "unknown key"})
			}
			continue
		}
		key, problem := "config", m
		if strings.HasPrefix(m, "'") {
			if j := strings.Index(m[1:], "'"); j >= 0 {
				key, problem = m[1:j+1], strings.TrimSpace(m[j+2:])
			}
		}
		out = append(out, FieldError{Key: key, Problem: problem})
	}
	return out
}

// Validate returns every problem of c, each naming its key.
func (c *Config) Validate() []FieldError {
	var errs []FieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if c.DataDir == "" {
		add("data_dir", "must not be empty")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		add("log.format", "%q is not json or console", c.Log.Format)
	}
	if len(c.Targets) == 0 {
		add("targets", "at least one target is required")
	}
	ids := map[string]bool{}
	for i, t := range c.Targets {
		k := fmt.Sprintf("targets[%d]", i)
		if t.ID == "" {
			add(k+".id", "must not be empty")
		} else if ids[t.ID] {
			add(k+".id", "duplicate target id %q", t.ID)
		}
		ids[t.ID] = true
		switch t.Kind {
		case mention.KindCompany, mention.KindStaff, mention.KindProduct:
		default:
			add(k+".kind", "%q is not company, staff or product", t.Kind)
		}
		if strings.TrimSpace(t.Name) == "" {
			add(k+".name", "must not be empty")
		}
		for j, a := range t.Aliases {
			if strings.TrimSpace(a) == "" {
				add(fmt.Sprintf("%s.aliases[%d]", k, j), "must not be empty")
			}
		}
	}
	for i, f := range c.Patterns.Files {
		if _, err := os.Stat(f); err != nil {
			add(fmt.Sprintf("patterns.files[%d]", i), "cannot read %s: %v", f, err)
		}
	}
	errs = append(errs, c.validateSources()...)
	switch c.Index.Backend {
	case BackendEmbedded:
	case BackendElasticsearch:
		es := c.Index.Elasticsearch
		if len(es.Addresses) == 0 {
			add("index.elasticsearch.addresses", "required when index.backend is elasticsearch")
		}
		for i, a := range es.Addresses {
			if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(fmt.Sprintf("index.elasticsearch.addresses[%d]", i), "not an absolute http(s) URL")
			}
		}
		switch es.Analyzer {
		case "standard", "cjk", "kuromoji":
		default:
			add("index.elasticsearch.analyzer", "%q is not standard, cjk or kuromoji", es.Analyzer)
		}
		if es.IndexPrefix == "" || strings.ToLower(es.IndexPrefix) != es.IndexPrefix {
			add("index.elasticsearch.index_prefix", "must be a non-empty lower-case name")
		}
	default:
		add("index.backend", "%q is not embedded or elasticsearch", c.Index.Backend)
	}
	errs = append(errs, c.validateAlert()...)
	errs = append(errs, c.validateEvidence()...)
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			add("metrics.listen", "not a host:port address: %v", err)
		}
	}
	return errs
}

// OutboxDir returns the file outbox folder.
func (c *Config) OutboxDir() string {
	if c.Alert.OutboxDir != "" {
		return c.Alert.OutboxDir
	}
	return c.DataDir + "/outbox"
}
