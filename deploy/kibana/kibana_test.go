package kibana

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"mimamori/config"
	"mimamori/index/elastic"
)

// Kibana cannot run on this machine, so the saved objects are checked for
// structure here against the real index mapping, and Import is tested
// against a stand-in for Kibana's import endpoint (a fake, said plainly).
// What was verified by hand in a real Kibana is listed in the README.

func TestSavedObjectsStructure(t *testing.T) {
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for name, typ := range elastic.MappedFields("standard") {
		fields[name] = typ
	}
	byID := map[string]Object{}
	count := map[string]int{}
	for _, o := range objs {
		if o.Type == "" || o.ID == "" || o.Attributes == nil {
			t.Fatalf("object without type, id or attributes: %+v", o)
		}
		if _, dup := byID[o.ID]; dup {
			t.Fatalf("duplicate id %s", o.ID)
		}
		byID[o.ID] = o
		count[o.Type]++
	}
	for typ, min := range map[string]int{"index-pattern": 1, "search": 2, "visualization": 5, "dashboard": 1} {
		if count[typ] < min {
			t.Errorf("want at least %d %s objects, got %d", min, typ, count[typ])
		}
	}
	kqlField := regexp.MustCompile(`([a-z_.]+)\s*(?::|>=|<=|>|<)`)
	for _, o := range objs {
		refs := map[string]Reference{}
		for _, r := range o.References {
			target, ok := byID[r.ID]
			if !ok || target.Type != r.Type {
				t.Errorf("%s %s: reference %s to missing %s %s", o.Type, o.ID, r.Name, r.Type, r.ID)
			}
			refs[r.Name] = r
		}
		if meta, ok := o.Attributes["kibanaSavedObjectMeta"].(map[string]any); ok {
			var ss struct {
				Query struct {
					Query    string `json:"query"`
					Language string `json:"language"`
				} `json:"query"`
				IndexRefName string `json:"indexRefName"`
			}
			if err := json.Unmarshal([]byte(meta["searchSourceJSON"].(string)), &ss); err != nil {
				t.Errorf("%s: searchSourceJSON: %v", o.ID, err)
			}
			if ss.IndexRefName != "" {
				if _, ok := refs[ss.IndexRefName]; !ok {
					t.Errorf("%s: indexRefName %s has no reference", o.ID, ss.IndexRefName)
				}
			}
			for _, m := range kqlField.FindAllStringSubmatch(ss.Query.Query, -1) {
				if _, ok := fields[m[1]]; !ok {
					t.Errorf("%s: query %q uses unmapped field %s", o.ID, ss.Query.Query, m[1])
				}
			}
		}
		switch o.Type {
		case "index-pattern":
			if want := config.Default().Index.Elasticsearch.IndexPrefix; o.Attributes["title"] != want {
				t.Errorf("data view title %v, want the write alias %s", o.Attributes["title"], want)
			}
			if tf := o.Attributes["timeFieldName"].(string); fields[tf] != "date" {
				t.Errorf("time field %s is not a mapped date (%q)", tf, fields[tf])
			}
		case "search":
			for _, c := range o.Attributes["columns"].([]any) {
				if _, ok := fields[c.(string)]; !ok {
					t.Errorf("saved search %s: column %s is not mapped", o.ID, c)
				}
			}
		case "visualization":
			var vs struct {
				Aggs []struct {
					Params map[string]any `json:"params"`
				} `json:"aggs"`
			}
			if err := json.Unmarshal([]byte(o.Attributes["visState"].(string)), &vs); err != nil {
				t.Fatalf("%s: visState: %v", o.ID, err)
			}
			for _, a := range vs.Aggs {
				if f, ok := a.Params["field"].(string); ok {
					if typ := fields[f]; typ != "keyword" && typ != "date" {
						t.Errorf("visualization %s aggregates on %s, which is %q (want keyword or date)", o.ID, f, typ)
					}
				}
			}
		case "dashboard":
			var panels []struct {
				PanelRefName string `json:"panelRefName"`
			}
			if err := json.Unmarshal([]byte(o.Attributes["panelsJSON"].(string)), &panels); err != nil {
				t.Fatalf("panelsJSON: %v", err)
			}
			for _, p := range panels {
				if _, ok := refs[p.PanelRefName]; !ok {
					t.Errorf("dashboard panel %s has no reference", p.PanelRefName)
				}
			}
		}
	}
	for _, want := range []string{"未対応の重大案件", "スタッフへの攻撃"} {
		found := false
		for _, o := range objs {
			found = found || (o.Type == "search" && strings.Contains(o.Attributes["title"].(string), want))
		}
		if !found {
			t.Errorf("no saved search %s", want)
		}
	}
}

func TestImport(t *testing.T) {
	var gotFile string
	fakeKibana := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/s/legal/api/saved_objects/_import" || r.URL.Query().Get("overwrite") != "true" ||
			r.Header.Get("kbn-xsrf") == "" {
			http.Error(w, `{"statusCode":400,"message":"bad request"}`, 400)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "elastic" || p != "pw" {
			http.Error(w, `{"statusCode":401}`, http.StatusUnauthorized)
			return
		}
		f, _, err := r.FormFile("file")
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		b, _ := io.ReadAll(f)
		gotFile = string(b)
		n := strings.Count(gotFile, "\n")
		if strings.Contains(r.URL.RawQuery, "fail") {
			n = 0
		}
		json.NewEncoder(w).Encode(map[string]any{"success": true, "successCount": n})
	}))
	defer fakeKibana.Close()
	n, err := Import(context.Background(), ImportOptions{URL: fakeKibana.URL, Username: "elastic", Password: "pw", Space: "legal"})
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := Objects()
	if n != len(objs) || gotFile != string(ndjson) {
		t.Fatalf("imported %d of %d objects", n, len(objs))
	}
	if _, err := Import(context.Background(), ImportOptions{URL: fakeKibana.URL, Username: "elastic", Password: "wrong", Space: "legal"}); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: want a 401 error, got %v", err)
	}
}
