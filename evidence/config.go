package evidence

import (
	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/internal/netguard"
)

// OptionsFromConfig turns the evidence section of a loaded configuration
// into store options, with the fetch rules of every source (which the
// subresources of its rendered pages follow). tool names the program and
// version.
func OptionsFromConfig(cfg config.Config, tool string, log *zap.Logger) Options {
	c := cfg.Evidence
	sources := make(map[string]netguard.Policy, len(cfg.Sources))
	for _, src := range cfg.Sources {
		sources[src.ID] = src.NetPolicy()
	}
	return Options{
		Tool:             tool,
		CrawlerUserAgent: cfg.Crawler.UserAgent,
		TSA:              TSAOptions{URL: c.TSA.URL, CAFile: c.TSA.CAFile, Timeout: c.TSA.Timeout, PolicyOID: c.TSA.PolicyOID},
		Render: RenderOptions{Disabled: c.DisableRender, ChromiumPath: c.ChromiumPath, Timeout: c.RenderTimeout, JSSettle: c.JSSettle,
			ViewportWidth: c.ViewportWidth, MaxHeight: c.MaxScreenshotHeight, AllowPrivate: c.AllowPrivateSubresources},
		Sources:        sources,
		Retention:      c.Retention,
		LightRetention: c.LightRetention,
		Logger:         log,
	}
}

// OpenFromConfig opens the store of a loaded configuration.
func OpenFromConfig(cfg config.Config, tool string, log *zap.Logger) (*Store, error) {
	return Open(cfg.EvidenceDir(), OptionsFromConfig(cfg, tool, log))
}
