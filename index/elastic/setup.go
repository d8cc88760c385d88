package elastic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/internal/secret"
)

// MappingVersion is the version of the index template this mimamori
// installs. Bump it with every mapping change: Open then refuses to run
// until the operator ran `mimamori setup elasticsearch` again.
const MappingVersion = 1

const dateFormat = "strict_date_optional_time||epoch_millis"

// mappings returns the strict mapping of mention documents.
func mappings(analyzer string) map[string]any {
	kw := map[string]any{"type": "keyword"}
	txt := map[string]any{"type": "text", "analyzer": analyzer}
	date := map[string]any{"type": "date", "format": dateFormat}
	return map[string]any{
		"dynamic": "strict",
		"_meta":   meta(analyzer),
		"properties": map[string]any{
			"id":        kw,
			"source_id": kw,
			"site":      kw,
			"url":       kw,
			"author": map[string]any{
				"type": "keyword", "ignore_above": 1024,
				"fields": map[string]any{"text": txt},
			},
			"title":         txt,
			"text":          txt,
			"search_text":   txt,
			"explanation":   txt,
			"published":     date,
			"first_seen":    date,
			"last_seen":     date,
			"version":       map[string]any{"type": "integer"},
			"content_hash":  kw,
			"alert":         map[string]any{"type": "boolean"},
			"severity":      kw,
			"severity_rank": map[string]any{"type": "integer"},
			"score":         map[string]any{"type": "float"},
			"categories":    kw,
			"targets":       kw,
			"target_kinds":  kw,
			// object, not nested: Kibana (Discover, Lens) handles object
			// arrays, and no query needs one match's fields together.
			"matches": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"category": kw,
					"rule":     kw,
					"term":     kw,
					"start":    map[string]any{"type": "integer"},
					"end":      map[string]any{"type": "integer"},
					"target":   kw,
				},
			},
			"evidence": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"bundle_id":       kw,
					"path":            kw,
					"manifest_sha256": kw,
					"raw_sha256":      kw,
				},
			},
			"status":      kw,
			"status_note": txt,
		},
	}
}

// MappedFields returns every field of the mention mapping (dotted paths,
// sub-fields included) with its Elasticsearch type, so other parts (the
// Kibana saved objects) can be checked against the real mapping.
func MappedFields(analyzer string) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, props map[string]any)
	walk = func(prefix string, props map[string]any) {
		for name, v := range props {
			f := v.(map[string]any)
			path := prefix + name
			if t, ok := f["type"].(string); ok {
				out[path] = t
			}
			if sub, ok := f["properties"].(map[string]any); ok {
				walk(path+".", sub)
			}
			if sub, ok := f["fields"].(map[string]any); ok {
				walk(path+".", sub)
			}
		}
	}
	walk("", mappings(analyzer)["properties"].(map[string]any))
	return out
}

func meta(analyzer string) map[string]any {
	return map[string]any{
		"managed_by":               "mimamori",
		"mimamori_mapping_version": MappingVersion,
		"mimamori_analyzer":        analyzer,
	}
}

func (c *conn) template() map[string]any {
	return map[string]any{
		"index_patterns": []string{c.indexPattern()},
		// A longer prefix is more specific: its template wins over the one of
		// a shorter prefix whose pattern also matches (mimamori-* vs
		// mimamori-test-*), and two overlapping patterns never share a
		// priority (which Elasticsearch refuses).
		"priority": 200 + len(c.prefix),
		"_meta":    meta(c.analyzer),
		"template": map[string]any{
			"settings": map[string]any{"index": map[string]any{"number_of_shards": 1}},
			"mappings": mappings(c.analyzer),
		},
	}
}

// Setup installs the index template, the first index behind the write
// alias and the history index. It is idempotent. When the write index was
// created with another mapping version or analyzer, Setup rolls the alias
// over so new mentions go to an index with the current mapping (older
// indices keep theirs).
func Setup(ctx context.Context, cfg config.ElasticsearchConfig, log *zap.Logger) error {
	c, err := newConn(cfg, log, Options{}.withDefaults())
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.checkVersion(ctx); err != nil {
		return err
	}
	if err := c.checkAnalyzer(ctx); err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPut, "/_index_template/"+url.PathEscape(c.templateName()), nil, c.template(), nil); err != nil {
		return fmt.Errorf("elasticsearch setup: install index template %s: %w", c.templateName(), err)
	}
	c.log.Info("elasticsearch index template installed", zap.String("template", c.templateName()),
		zap.Int("mapping_version", MappingVersion), zap.String("analyzer", c.analyzer))
	if err := c.ensureAlias(ctx); err != nil {
		return err
	}
	err = c.do(ctx, http.MethodPut, "/"+url.PathEscape(c.historyIndex()), nil, map[string]any{}, nil)
	if err != nil && !alreadyExists(err) {
		return fmt.Errorf("elasticsearch setup: create history index %s: %w", c.historyIndex(), err)
	}
	return nil
}

func alreadyExists(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == 400 &&
		(se.Type == "resource_already_exists_exception" || strings.Contains(se.Reason, "already exists"))
}

// ensureAlias creates <prefix>-000001 with the write alias unless the alias
// exists, and rolls over a write index with an outdated mapping.
func (c *conn) ensureAlias(ctx context.Context) error {
	write, err := c.writeIndex(ctx)
	if errors.Is(err, ErrSetupRequired) {
		err = c.do(ctx, http.MethodHead, "/"+url.PathEscape(c.prefix), nil, nil, nil)
		if err == nil {
			// HEAD on an alias also answers 200, but the alias is missing.
			return fmt.Errorf("elasticsearch setup: an index named %q exists where the write alias should be "+
				"(probably created by a write before setup): reindex it into %s and delete it, or choose another index_prefix",
				c.prefix, c.firstIndex())
		}
		if statusOf(err) != 404 {
			return fmt.Errorf("elasticsearch setup: %w", err)
		}
		body := map[string]any{"aliases": map[string]any{c.prefix: map[string]any{"is_write_index": true}}}
		err = c.do(ctx, http.MethodPut, "/"+url.PathEscape(c.firstIndex()), nil, body, nil)
		if err != nil && alreadyExists(err) {
			// Another setup raced us, or the index exists without the alias.
			if _, aerr := c.writeIndex(ctx); aerr == nil {
				return nil
			}
			return fmt.Errorf("elasticsearch setup: index %s exists but the write alias %q does not point to it: "+
				"add the alias (is_write_index: true) or delete the index", c.firstIndex(), c.prefix)
		}
		if err != nil {
			return fmt.Errorf("elasticsearch setup: create %s with alias %s: %w", c.firstIndex(), c.prefix, err)
		}
		c.log.Info("elasticsearch write index created", zap.String("index", c.firstIndex()), zap.String("alias", c.prefix))
		return nil
	}
	if err != nil {
		return fmt.Errorf("elasticsearch setup: %w", err)
	}
	var res map[string]struct {
		Mappings struct {
			Meta map[string]any `json:"_meta"`
		} `json:"mappings"`
	}
	if err := c.do(ctx, http.MethodGet, "/"+url.PathEscape(write)+"/_mapping", nil, nil, &res); err != nil {
		return fmt.Errorf("elasticsearch setup: read mapping of %s: %w", write, err)
	}
	m := res[write].Mappings.Meta
	if metaVersion(m) == MappingVersion && m["mimamori_analyzer"] == c.analyzer {
		return nil
	}
	var rr struct {
		NewIndex string `json:"new_index"`
	}
	if err := c.do(ctx, http.MethodPost, "/"+url.PathEscape(c.prefix)+"/_rollover", nil, map[string]any{}, &rr); err != nil {
		return fmt.Errorf("elasticsearch setup: roll %s over to the new mapping: %w", c.prefix, err)
	}
	c.log.Info("elasticsearch write index had another mapping: rolled over",
		zap.String("old_index", write), zap.String("new_index", rr.NewIndex))
	return nil
}

func metaVersion(m map[string]any) int {
	switch v := m["mimamori_mapping_version"].(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// checkVersion refuses clusters other than Elasticsearch 8.x. (The client
// itself refuses servers that do not send X-Elastic-Product.)
func (c *conn) checkVersion(ctx context.Context) error {
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	err := c.do(ctx, http.MethodGet, "/", nil, nil, &info)
	number := info.Version.Number
	if st := statusOf(err); st == 403 || st == 404 || st == 405 {
		// No root endpoint (trimmed distributions) or no privilege for it.
		var nodes struct {
			Nodes map[string]struct {
				Version string `json:"version"`
			} `json:"nodes"`
		}
		err = c.do(ctx, http.MethodGet, "/_nodes/_local", url.Values{"filter_path": {"nodes.*.version"}}, nil, &nodes)
		for _, n := range nodes.Nodes {
			number = n.Version
		}
		if statusOf(err) == 403 {
			c.log.Warn("cannot read the Elasticsearch version (the user lacks the monitor privilege); assuming 8.x")
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("elasticsearch: cannot reach %s: %w", strings.Join(mapSlice(c.cfg.Addresses, secret.RedactURL), ", "), err)
	}
	if !strings.HasPrefix(number, "8.") {
		return fmt.Errorf("elasticsearch: cluster version %q is not supported: mimamori needs Elasticsearch 8.x", number)
	}
	return nil
}

// checkAnalyzer makes sure the configured analyzer exists on the cluster.
func (c *conn) checkAnalyzer(ctx context.Context) error {
	if c.analyzer == "standard" {
		return nil
	}
	err := c.do(ctx, http.MethodPost, "/_analyze", nil, map[string]any{"analyzer": c.analyzer, "text": "株式会社サンプル"}, nil)
	if err == nil {
		return nil
	}
	if st := statusOf(err); st != 400 && st != 404 {
		return fmt.Errorf("elasticsearch setup: check analyzer %q: %w", c.analyzer, err)
	}
	how := map[string]string{
		"cjk": "it comes with the analysis-common module, which this Elasticsearch distribution does not include; " +
			"use the standard Elasticsearch distribution",
		"kuromoji": "install the analysis-kuromoji plugin on every node (bin/elasticsearch-plugin install analysis-kuromoji) and restart them",
	}[c.analyzer]
	return fmt.Errorf("elasticsearch setup: the %q analyzer is not available on this cluster (%v): %s, "+
		"or set index.elasticsearch.analyzer to standard: %w", c.analyzer, err, how, ErrAnalyzerUnavailable)
}

// checkTemplate makes sure Setup installed this version's template.
func (c *conn) checkTemplate(ctx context.Context) error {
	var res struct {
		IndexTemplates []struct {
			Name          string `json:"name"`
			IndexTemplate struct {
				IndexPatterns []string       `json:"index_patterns"`
				Meta          map[string]any `json:"_meta"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	err := c.do(ctx, http.MethodGet, "/_index_template/"+url.PathEscape(c.templateName()), nil, nil, &res)
	if statusOf(err) == 404 || (err == nil && len(res.IndexTemplates) == 0) {
		return fmt.Errorf("elasticsearch: the index template %q does not exist: %w", c.templateName(), ErrSetupRequired)
	}
	if err != nil {
		return fmt.Errorf("elasticsearch: read index template %s: %w", c.templateName(), err)
	}
	t := res.IndexTemplates[0].IndexTemplate
	if v := metaVersion(t.Meta); v != MappingVersion {
		return fmt.Errorf("elasticsearch: the index template %q has mapping version %d but this mimamori needs %d "+
			"(mimamori never changes mappings by itself): %w", c.templateName(), v, MappingVersion, ErrSetupRequired)
	}
	if a, _ := t.Meta["mimamori_analyzer"].(string); a != c.analyzer {
		return fmt.Errorf("elasticsearch: the index template %q uses the %q analyzer but the configuration says %q: %w",
			c.templateName(), a, c.analyzer, ErrSetupRequired)
	}
	if !slices.Contains(t.IndexPatterns, c.indexPattern()) {
		return fmt.Errorf("elasticsearch: the index template %q does not cover %s: %w", c.templateName(), c.indexPattern(), ErrSetupRequired)
	}
	return nil
}

// MaybeRollover rolls the write alias over to a new index when the write
// index is older than RolloverMaxAge or its primary shard is larger than
// RolloverMaxSize (and holds at least one document). The daemon calls it
// periodically: the cluster may have no ILM. With no condition configured
// it does nothing.
func (s *Store) MaybeRollover(ctx context.Context) (rolled bool, err error) {
	conds := map[string]any{}
	if d := s.cfg.RolloverMaxAge; d > 0 {
		conds["max_age"] = strconv.FormatInt(max(d.Milliseconds(), 1), 10) + "ms"
	}
	if n := s.cfg.RolloverMaxSize; n > 0 {
		conds["max_primary_shard_size"] = strconv.FormatInt(n, 10) + "b"
	}
	if s.opts.maxDocs > 0 {
		conds["max_docs"] = s.opts.maxDocs
	}
	if len(conds) == 0 {
		return false, nil // an empty condition set would roll over every time
	}
	conds["min_docs"] = 1
	s.mu.Lock()
	defer s.mu.Unlock()
	var res struct {
		RolledOver bool   `json:"rolled_over"`
		OldIndex   string `json:"old_index"`
		NewIndex   string `json:"new_index"`
	}
	if err := s.do(ctx, http.MethodPost, "/"+url.PathEscape(s.prefix)+"/_rollover", nil, map[string]any{"conditions": conds}, &res); err != nil {
		return false, fmt.Errorf("roll %s over: %w", s.prefix, err)
	}
	if !res.RolledOver {
		return false, nil
	}
	// Put finds documents outside the write index by searching: make all of
	// the old index visible before the next Put.
	if err := s.do(ctx, http.MethodPost, "/"+url.PathEscape(res.OldIndex)+"/_refresh", nil, nil, nil); err != nil {
		return true, fmt.Errorf("rolled %s over to %s but could not refresh %s: %w", s.prefix, res.NewIndex, res.OldIndex, err)
	}
	s.log.Info("elasticsearch write index rolled over", zap.String("old_index", res.OldIndex), zap.String("new_index", res.NewIndex))
	return true, nil
}

// ApplyRetention deletes the rolled-over indices <prefix>-NNNNNN that stopped
// receiving new mentions more than Retention before now, and returns their
// names. An index stops receiving new mentions when the next one is created
// (its rollover), so an index is deleted only once everything first indexed
// in it is older than Retention. The write index and the history index are
// never deleted. With Retention 0 it does nothing.
func (s *Store) ApplyRetention(ctx context.Context, now time.Time) ([]string, error) {
	if s.cfg.Retention <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	write, err := s.writeIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	var res map[string]struct {
		Settings struct {
			Index struct {
				CreationDate string `json:"creation_date"`
			} `json:"index"`
		} `json:"settings"`
	}
	q := url.Values{"expand_wildcards": {"open,closed"}}
	if err := s.do(ctx, http.MethodGet, "/"+url.PathEscape(s.indexPattern())+"/_settings/index.creation_date", q, nil, &res); err != nil {
		return nil, fmt.Errorf("retention: list %s: %w", s.indexPattern(), err)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(s.prefix) + `-(\d+)$`)
	type idx struct {
		name    string
		n       int64
		created time.Time
	}
	var all []idx
	for name, v := range res {
		m := re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		ms, err := strconv.ParseInt(v.Settings.Index.CreationDate, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("retention: creation date of %s: %q", name, v.Settings.Index.CreationDate)
		}
		all = append(all, idx{name, n, time.UnixMilli(ms)})
	}
	slices.SortFunc(all, func(a, b idx) int { return int(a.n - b.n) })
	var doomed []string
	for i := 0; i+1 < len(all); i++ {
		if all[i].name == write {
			continue
		}
		if rolledAt := all[i+1].created; now.Sub(rolledAt) > s.cfg.Retention {
			doomed = append(doomed, all[i].name)
		}
	}
	if len(doomed) == 0 {
		return nil, nil
	}
	path := "/" + strings.Join(mapSlice(doomed, url.PathEscape), ",")
	if err := s.do(ctx, http.MethodDelete, path, nil, nil, nil); err != nil {
		return nil, fmt.Errorf("retention: delete %s: %w", strings.Join(doomed, ", "), err)
	}
	s.log.Info("elasticsearch indices past retention deleted", zap.Strings("indices", doomed), zap.Duration("retention", s.cfg.Retention))
	return doomed, nil
}

func mapSlice(xs []string, f func(string) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
