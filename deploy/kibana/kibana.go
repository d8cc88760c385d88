// Package kibana ships mimamori's Kibana saved objects (a data view over
// the mentions alias, saved searches for the legal team, visualizations
// and a dashboard) and imports them into a Kibana through its saved
// objects API (`mimamori setup kibana`).
package kibana

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
)

//go:embed mimamori.ndjson
var ndjson []byte

// Object is one saved object.
type Object struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	References []Reference    `json:"references"`
}

// Reference links a saved object to another.
type Reference struct {
	Name string `json:"name"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Objects parses the shipped saved objects.
func Objects() ([]Object, error) {
	var out []Object
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var o Object
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return nil, fmt.Errorf("mimamori.ndjson line %d: %w", n, err)
		}
		out = append(out, o)
	}
	return out, sc.Err()
}

// ImportOptions address a Kibana.
type ImportOptions struct {
	URL      string // e.g. http://localhost:5601
	Username string
	Password string
	APIKey   string
	Space    string // empty: the default space
}

// Import uploads the saved objects with overwrite=true, so running it
// again updates them. It fails naming every object Kibana refused.
func Import(ctx context.Context, opts ImportOptions) (int, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "mimamori.ndjson")
	if err != nil {
		return 0, err
	}
	fw.Write(ndjson)
	mw.Close()
	base := strings.TrimRight(opts.URL, "/")
	if opts.Space != "" {
		base += "/s/" + opts.Space
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/saved_objects/_import?overwrite=true", &body)
	if err != nil {
		return 0, fmt.Errorf("import into kibana %s: %w", opts.URL, err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("kbn-xsrf", "mimamori")
	switch {
	case opts.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+opts.APIKey)
	case opts.Username != "":
		req.SetBasicAuth(opts.Username, opts.Password)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("import into kibana %s: %w", opts.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("import into kibana %s: %s: %s", opts.URL, resp.Status, strings.TrimSpace(string(raw)))
	}
	var r struct {
		Success      bool `json:"success"`
		SuccessCount int  `json:"successCount"`
		Errors       []struct {
			Type  string `json:"type"`
			ID    string `json:"id"`
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return 0, fmt.Errorf("import into kibana %s: unreadable answer: %w", opts.URL, err)
	}
	if !r.Success || len(r.Errors) > 0 {
		var msgs []string
		for _, e := range r.Errors {
			msgs = append(msgs, fmt.Sprintf("%s %s: %s", e.Type, e.ID, e.Error.Type))
		}
		return r.SuccessCount, fmt.Errorf("import into kibana %s: %d object(s) refused: %s", opts.URL, len(r.Errors), strings.Join(msgs, "; "))
	}
	return r.SuccessCount, nil
}
