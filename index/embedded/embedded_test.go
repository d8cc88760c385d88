package embedded

import (
	"path/filepath"
	"testing"

	"mimamori/index"
	"mimamori/index/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) index.Store {
		s, err := Open(filepath.Join(t.TempDir(), "index.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestTokenize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"詐欺会社", "[詐欺 欺会 会社]"},
		{"田中", "[田中]"},
		{"Ｓａｍｐｌｅ社", "[sample 社]"},
		{"ｶﾀｶﾅ!", "[カタ タカ カナ]"},
		{"a、b", "[a b]"},
	}
	for _, tc := range cases {
		if got := fmtSlice(tokenize(tc.in)); got != tc.want {
			t.Errorf("tokenize(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func fmtSlice(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
