package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/blevesearch/bleve/v2"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/cjk"
)

func main() {
	dir, _ := os.MkdirTemp("", "tinybleve")
	defer os.RemoveAll(dir)
	m := bleve.NewIndexMapping()
	m.DefaultAnalyzer = "cjk"
	idx, err := bleve.New(filepath.Join(dir, "i"), m)
	if err != nil {
		panic(err)
	}
	_ = idx.Index("1", map[string]string{"t": "詐欺だ"})
	r, _ := idx.Search(bleve.NewSearchRequest(bleve.NewMatchPhraseQuery("詐欺")))
	fmt.Println(r.Total)
	idx.Close()
}
