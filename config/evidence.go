package config

// EvidenceConfig configures evidence capture.
type EvidenceConfig struct {
}

// validateEvidence checks evidence settings.
func (c *Config) validateEvidence() []FieldError {
	return nil
}
