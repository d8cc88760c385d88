// Package patterns holds mimamori's default detection pattern pack,
// embedded into the binary so the detector works with no configuration.
// The format is documented at the top of default.yaml.
package patterns

import _ "embed"

// Default is the YAML text of the default pattern pack (default.yaml).
//
//go:embed default.yaml
var Default []byte
