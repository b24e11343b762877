package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/gateway/source"
)

// defaultShutdownTimeout applies when shutdown_timeout is not set (a
// Config built in code rather than loaded).
const defaultShutdownTimeout = 10 * time.Second

// newSources builds (without starting) the configured upstream sources.
func (g *Gateway) newSources() ([]*source.Source, error) {
	var out []*source.Source
	for i, sc := range g.cfg.Sources {
		s, err := source.New(sc, source.Options{Handler: g.ingestFromSource, Logger: g.log.With("component", "source")})
		if err != nil {
			return nil, fmt.Errorf("sources[%d]: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// ingestFromSource is the sources' way into the Ingester, the same path a
// local PUBLISH takes. It answers nil (acknowledge upstream) once the rows
// are durable, for a message no route takes, and for one that can never be
// stored (it is already a dead letter by then); a store failure is an
// error, so the source retries and the message stays unacknowledged.
func (g *Gateway) ingestFromSource(ctx context.Context, msg *rows.Message) error {
	out, err := g.ingester.Ingest(ctx, msg, msg.QoS > 0)
	if err == nil || !out.Routed || isPermanent(err) {
		return nil
	}
	return err
}

// startSources starts the sources; each connects in the background.
func (g *Gateway) startSources(ctx context.Context) error {
	for _, s := range g.srcs {
		if err := s.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// closeSources stops taking upstream messages, lets those being ingested
// finish and be acknowledged, and disconnects, within ctx.
func (g *Gateway) closeSources(ctx context.Context) error {
	var errs []error
	for _, s := range g.srcs {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}

// SourceStats returns the counters of the upstream sources.
func (g *Gateway) SourceStats() []source.Stats {
	out := make([]source.Stats, 0, len(g.srcs))
	for _, s := range g.srcs {
		out = append(out, s.Stats())
	}
	return out
}

// validateLifecycle checks shutdown_timeout and the sources.
func (c *Config) validateLifecycle(bad func(key, format string, args ...any)) {
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive, got %s", c.ShutdownTimeout)
	}
	names := map[string]bool{}
	for i, sc := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		sc = sc.WithDefaults()
		if err := sc.Validate(); err != nil {
			var list []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				list = j.Unwrap()
			} else {
				list = []error{err}
			}
			for _, e := range list {
				var ke *source.KeyError
				if errors.As(e, &ke) {
					bad(key+"."+ke.Key, "%s", ke.Reason)
				} else {
					bad(key, "%v", e)
				}
			}
		}
		if sc.Name != "" && names[sc.Name] {
			bad(key+".name", "duplicate source name %q", sc.Name)
		}
		names[sc.Name] = true
	}
}
