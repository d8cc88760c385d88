// tinybase: stdlib a daemon typically already links; its cold build seeds the
// GOCACHE that the candidate builds start from.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b, _ := json.Marshal(map[string]any{"drivers": sql.Drivers()})
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://localhost/", nil)
	fmt.Fprintln(os.Stdout, string(b), req.URL)
	log.SetFlags(0)
}
