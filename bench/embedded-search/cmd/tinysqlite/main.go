package main

import (
	"database/sql"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
	_ "modernc.org/sqlite"
)

func main() {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE VIRTUAL TABLE d USING fts5(b, tokenize='unicode61 remove_diacritics 0')`); err != nil {
		panic(err)
	}
	db.Exec(`INSERT INTO d(b) VALUES(?)`, strings.ToLower(norm.NFKC.String("詐欺 欺だ")))
	var n int
	db.QueryRow(`SELECT count(*) FROM d WHERE d MATCH '"詐欺"'`).Scan(&n)
	fmt.Println(n)
}
