package main

import (
	"database/sql"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	_ "modernc.org/sqlite"
)

// engine is what the benchmark needs from a backend.
type engine interface {
	name() string
	// top returns up to k ids (best first) and the total hit count.
	top(q string, k int) ([]int, int, error)
	// all returns every matching id (for correctness).
	all(q string) ([]int, error)
	close() error
}

// ---------------- A: bleve + cjk, scorch ----------------

func bleveMapping() *mapping.IndexMappingImpl {
	im := bleve.NewIndexMapping()
	im.DefaultAnalyzer = "cjk"
	im.StoreDynamic, im.IndexDynamic, im.DocValuesDynamic = false, false, false
	fm := bleve.NewTextFieldMapping()
	fm.Analyzer = "cjk"
	fm.Store = false             // index only; the daemon keeps posts elsewhere
	fm.IncludeTermVectors = true // positions: needed for phrase queries
	fm.DocValues = false
	fm.IncludeInAll = false
	dm := bleve.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt("text", fm)
	im.DefaultMapping = dm
	return im
}

type bleveDoc struct {
	Text string `json:"text"`
}

func bleveBuild(path string, docs []string, batch int) error {
	idx, err := bleve.New(path, bleveMapping()) // scorch is the v2 default
	if err != nil {
		return err
	}
	b := idx.NewBatch()
	for i, d := range docs {
		if err := b.Index(strconv.Itoa(i), bleveDoc{d}); err != nil {
			return err
		}
		if b.Size() >= batch {
			if err := idx.Batch(b); err != nil {
				return err
			}
			b = idx.NewBatch()
		}
	}
	if b.Size() > 0 {
		if err := idx.Batch(b); err != nil {
			return err
		}
	}
	return idx.Close()
}

type bleveEng struct {
	idx    bleve.Index
	prefix bool // 1-char fallback variant: prefix query on the (lowercased) char
}

func (e *bleveEng) name() string { return "bleve-cjk" }

func (e *bleveEng) query(q string) query.Query {
	if e.prefix {
		pq := bleve.NewPrefixQuery(normalize(q))
		pq.SetField("text")
		return pq
	}
	mq := bleve.NewMatchPhraseQuery(q)
	mq.SetField("text")
	mq.Analyzer = "cjk"
	return mq
}

func (e *bleveEng) top(q string, k int) ([]int, int, error) {
	req := bleve.NewSearchRequestOptions(e.query(q), k, 0, false)
	res, err := e.idx.Search(req)
	if err != nil {
		return nil, 0, err
	}
	ids := make([]int, 0, len(res.Hits))
	for _, h := range res.Hits {
		n, _ := strconv.Atoi(h.ID)
		ids = append(ids, n)
	}
	return ids, int(res.Total), nil
}

func (e *bleveEng) all(q string) ([]int, error) {
	ids, _, err := e.top(q, 1_000_000)
	return ids, err
}

func (e *bleveEng) close() error { return e.idx.Close() }

// ---------------- B: modernc sqlite FTS5 over Go-side bigrams ----------------

func sqliteOpen(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, db.Ping()
}

func sqliteBuild(path string, docs []string, batch int) error {
	db, err := sqliteOpen(path)
	if err != nil {
		return err
	}
	// contentless (index only, like the bleve config); contentless_delete
	// keeps DELETE/REPLACE possible.
	if _, err := db.Exec(`CREATE VIRTUAL TABLE docs USING fts5(body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0')`); err != nil {
		return err
	}
	for start := 0; start < len(docs); start += batch {
		end := min(start+batch, len(docs))
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		st, err := tx.Prepare(`INSERT INTO docs(rowid, body) VALUES(?, ?)`)
		if err != nil {
			return err
		}
		for i := start; i < end; i++ {
			if _, err := st.Exec(i+1, strings.Join(tokenize(docs[i]), " ")); err != nil {
				return err
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return db.Close() // last close checkpoints and removes the WAL
}

type sqliteEng struct {
	db     *sql.DB
	prefix bool // 1-char fallback variant: token* prefix query
}

func (e *sqliteEng) name() string { return "sqlite-fts5" }

func (e *sqliteEng) match(q string) string {
	toks := tokenize(q)
	if e.prefix && len(toks) == 1 {
		return `"` + toks[0] + `"*`
	}
	return `"` + strings.Join(toks, " ") + `"`
}

func (e *sqliteEng) top(q string, k int) ([]int, int, error) {
	m := e.match(q)
	rows, err := e.db.Query(`SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT ?`, m, k)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return nil, 0, err
		}
		ids = append(ids, id-1)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var n int
	err = e.db.QueryRow(`SELECT count(*) FROM docs WHERE docs MATCH ?`, m).Scan(&n)
	return ids, n, err
}

func (e *sqliteEng) all(q string) ([]int, error) {
	rows, err := e.db.Query(`SELECT rowid FROM docs WHERE docs MATCH ?`, e.match(q))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id-1)
	}
	return ids, rows.Err()
}

func (e *sqliteEng) close() error { return e.db.Close() }

func bleveOpen(p string) (bleve.Index, error) { return bleve.Open(p) }
