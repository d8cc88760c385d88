package evidence

import (
	"go.uber.org/zap"

	"mimamori/config"
)

// OptionsFromConfig turns the evidence section of the configuration into
// store options. tool names the program and version; crawlerUA is the
// configured crawler User-Agent (cfg.Crawler.UserAgent).
func OptionsFromConfig(c config.EvidenceConfig, tool, crawlerUA string, log *zap.Logger) Options {
	return Options{
		Tool:             tool,
		CrawlerUserAgent: crawlerUA,
		TSA:              TSAOptions{URL: c.TSA.URL, CAFile: c.TSA.CAFile, Timeout: c.TSA.Timeout, PolicyOID: c.TSA.PolicyOID},
		Render: RenderOptions{Disabled: c.DisableRender, ChromiumPath: c.ChromiumPath, Timeout: c.RenderTimeout, JSSettle: c.JSSettle,
			ViewportWidth: c.ViewportWidth, MaxHeight: c.MaxScreenshotHeight, AllowPrivate: c.AllowPrivateSubresources},
		Retention:      c.Retention,
		LightRetention: c.LightRetention,
		Logger:         log,
	}
}

// OpenFromConfig opens the store of a loaded configuration.
func OpenFromConfig(cfg config.Config, tool string, log *zap.Logger) (*Store, error) {
	return Open(cfg.EvidenceDir(), OptionsFromConfig(cfg.Evidence, tool, cfg.Crawler.UserAgent, log))
}
