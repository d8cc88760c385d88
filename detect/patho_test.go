package detect

import (
	"strings"
	"testing"
	"time"
)

// TestPathologicalInputs guards against quadratic blow-ups on hostile input
// (each case is ~100 KB; the bound is generous for a loaded machine).
func TestPathologicalInputs(t *testing.T) {
	d := testDetector(t)
	for name, s := range map[string]string{
		"masks":     strings.Repeat("○", 20000),
		"masks2":    strings.Repeat("ミ○ト詐○", 4000),
		"aliases":   strings.Repeat("ミナトテレコム", 5000),
		"abuse":     strings.Repeat("ミナトの佐藤死ね", 5000),
		"cancel":    strings.Repeat("ないと", 10000),
		"digits":    strings.Repeat("090", 10000) + "電話",
		"anchors":   strings.Repeat("電話番号", 5000),
		"quotes":    strings.Repeat("「", 10000) + "詐欺" + strings.Repeat("」と", 10000),
		"combining": "a" + strings.Repeat("\u0301", 20000),
		"sentences": strings.Repeat("。死ね", 10000),
	} {
		start := time.Now()
		v := d.Detect(s)
		el := time.Since(start)
		t.Logf("%-10s %6d bytes %8v %d matches", name, len(s), el, len(v.Matches))
		if el > 2*time.Second {
			t.Errorf("%s: %v for %d bytes", name, el, len(s))
		}
		checkOffsets(t, s, v)
	}
}
