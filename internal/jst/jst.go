// Package jst holds Japan Standard Time, the zone every time shown to the
// legal team is written in. It is a fixed UTC+9 zone (Japan has no daylight
// saving time), so it does not depend on the host's tzdata or TZ.
package jst

import "time"

// Zone is Japan Standard Time (UTC+9).
var Zone = time.FixedZone("JST", 9*60*60)
