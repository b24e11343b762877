// Package gateway wires lakegate together: configuration, the embedded MQTT
// broker and its ingest hook, the topic router, the formatter runtime, the
// store and the HTTP query API. It owns their lifecycle: New checks, Start
// opens and listens, Close stops everything in reverse order.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/query"
	"github.com/lakegate/lakegate/formatters"
	"github.com/lakegate/lakegate/plugins"
)

// Options are the parts of a gateway that are not configuration: what the
// embedding program injects.
type Options struct {
	Logger *slog.Logger
	// CompilationCacheDir overrides plugins.cache_dir (tests share one).
	CompilationCacheDir string
	// ConfigPath is the file the configuration came from; Reload re-reads
	// its routes, plugins.dir and dead_letter. "" reloads formatters only.
	ConfigPath string
}

// Gateway is one running lakegate: broker, router, formatters, store, query API.
type Gateway struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	router  *Router
	sources map[string]formatters.Source // by route formatter id

	cancel    context.CancelFunc
	store     *arrowstore.Store
	runtime   *plugins.Runtime
	limits    plugins.Limits
	reloadMu  sync.Mutex // one Reload at a time
	closing   atomic.Bool
	ingester  *Ingester
	engine    *query.Engine
	broker    *mqtt.Server
	mqttLns   []listeners.Listener
	httpSrv   *http.Server
	httpLn    net.Listener
	closeOnce sync.Once
	closeErr  error
}

// New checks cfg and builds a gateway that is not started: no file is opened
// and no port bound until Start.
func New(cfg *Config, opts Options) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	router, err := NewRouter(cfg.Routes)
	if err != nil {
		return nil, err
	}
	sources, err := resolveFormatters(cfg)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gateway{cfg: *cfg, opts: opts, log: log, router: router, sources: sources}, nil
}

// resolveFormatters finds the module of every formatter the routes name
// (built-in, plugin:PATH or plugins.dir); it reads no module yet.
func resolveFormatters(cfg *Config) (map[string]formatters.Source, error) {
	sources := map[string]formatters.Source{}
	var errs []error
	for i, r := range cfg.Routes {
		if _, ok := sources[r.Formatter]; ok {
			continue
		}
		src, err := formatters.Resolve(r.Formatter, cfg.Plugins.Dir)
		if err != nil {
			errs = append(errs, &FieldError{Key: fmt.Sprintf("routes[%d].formatter", i), Reason: err.Error()})
			continue
		}
		sources[r.Formatter] = src
	}
	return sources, errors.Join(errs...)
}

// loadRouting reads, compiles and instantiates the formatters of sources
// into a routing generation for router. On error nothing stays loaded.
func (g *Gateway) loadRouting(ctx context.Context, router *Router, sources map[string]formatters.Source) (_ *routing, err error) {
	rt := &routing{router: router, formatters: map[string]*plugins.Formatter{}}
	defer func() {
		if err != nil {
			closeFormatters(rt.formatters)
		}
	}()
	for _, id := range router.Formatters() {
		src := sources[id]
		mod, err := src.Module()
		if err != nil {
			return nil, fmt.Errorf("loading formatter %s: %w", id, err)
		}
		f, err := g.runtime.Load(ctx, id, mod, g.limits)
		if err != nil {
			return nil, fmt.Errorf("loading formatter %s from %s: %w", id, src, err)
		}
		rt.formatters[id] = f
	}
	return rt, nil
}

func closeFormatters(fs map[string]*plugins.Formatter) error {
	var errs []error
	for _, f := range fs {
		errs = append(errs, f.Close(context.Background()))
	}
	return errors.Join(errs...)
}

// Start opens the store (replaying its log), compiles and instantiates the
// formatters, and starts the MQTT and HTTP listeners. On error everything
// already started is closed again.
func (g *Gateway) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = g.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel

	sc := g.cfg.Storage
	g.store, err = arrowstore.Open(ctx, arrowstore.Options{
		Dir:          sc.Dir,
		TimeColumn:   sc.TimeColumn,
		MaxRows:      sc.Flush.MaxRows,
		MaxBytes:     int64(sc.Flush.MaxBytes),
		MaxAge:       sc.Flush.MaxAge,
		SyncInterval: sc.SyncInterval,

		MaxBufferedBytes:    int64(sc.MaxBufferedBytes),
		Retention:           sc.Retention.MaxAge,
		RetentionByTable:    tableRetentions(sc.Retention.Tables),
		MaxDiskBytes:        int64(sc.Retention.MaxDiskBytes),
		CompactMinFiles:     sc.Compaction.MinFiles,
		CompactMaxBytes:     int64(sc.Compaction.MaxBytes),
		MaintenanceInterval: sc.MaintenanceInterval,

		Logger: g.log.With("component", "store"),
	})
	if err != nil {
		return fmt.Errorf("opening store in %s: %w", sc.Dir, err)
	}

	cacheDir := g.opts.CompilationCacheDir
	if cacheDir == "" {
		cacheDir = g.cfg.Plugins.CacheDir
	}
	if cacheDir == "" {
		cacheDir = filepath.Join(sc.Dir, "_wasmcache")
	}
	g.runtime, err = plugins.NewRuntime(ctx, plugins.RuntimeOptions{CacheDir: cacheDir, Logger: g.log.With("component", "plugins")})
	if err != nil {
		return fmt.Errorf("starting formatter runtime: %w", err)
	}
	lim := g.cfg.Plugins.Limits
	g.limits = plugins.Limits{
		MemoryPages:    lim.MemoryPages,
		CallTimeout:    lim.CallTimeout,
		MaxOutputBytes: int(lim.MaxOutputBytes),
		MaxRows:        lim.MaxRows,
		Instances:      lim.Instances,
	}.WithDefaults()
	rt, err := g.loadRouting(ctx, g.router, g.sources)
	if err != nil {
		return err
	}
	g.ingester = &Ingester{store: g.store, log: g.log.With("component", "ingest")}
	g.ingester.setDeadLetter(g.cfg.DeadLetter)
	g.ingester.table.Store(rt)
	g.engine = query.NewEngine(query.StoreSource(g.store), query.Options{Logger: g.log.With("component", "query")})

	if err := g.startBroker(runCtx); err != nil {
		return err
	}
	g.ingester.publish = g.broker.Publish
	if err := g.broker.Serve(); err != nil {
		return fmt.Errorf("starting broker: %w", err)
	}

	if addr := g.cfg.Listeners.HTTP.Address; addr != "" {
		g.httpLn, err = net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listening for HTTP on %s: %w", addr, err)
		}
		g.httpSrv = &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := g.httpSrv.Serve(g.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("http server stopped", "error", err)
			}
		}()
	}
	g.log.Info("lakegate started", "mqtt", g.MQTTAddrs(), "http", g.HTTPAddr(), "data", sc.Dir)
	return nil
}

func tableRetentions(cfg []TableRetentionConfig) []arrowstore.TableRetention {
	var out []arrowstore.TableRetention
	for _, t := range cfg {
		out = append(out, arrowstore.TableRetention{Table: t.Table, MaxAge: t.MaxAge})
	}
	return out
}

// MQTTAddrs lists the bound MQTT listener addresses (useful with port 0).
func (g *Gateway) MQTTAddrs() []string {
	var a []string
	for _, l := range g.mqttLns {
		a = append(a, l.Address())
	}
	return a
}

// HTTPAddr is the bound HTTP address, or "" when HTTP is off.
func (g *Gateway) HTTPAddr() string {
	if g.httpLn == nil {
		return ""
	}
	return g.httpLn.Addr().String()
}

// Store is the gateway's store (for the bench and tests).
func (g *Gateway) Store() *arrowstore.Store { return g.store }

// Stats returns the ingest counters.
func (g *Gateway) Stats() IngestStatsSnapshot {
	if g.ingester == nil {
		return IngestStatsSnapshot{}
	}
	return g.ingester.stats.Snapshot()
}

// Close stops the listeners, waits for in-flight messages, flushes the store
// and releases the formatters. It is safe after a failed Start and twice.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.closing.Store(true)
		var errs []error
		if g.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, g.httpSrv.Shutdown(ctx))
			cancel()
		} else if g.httpLn != nil {
			errs = append(errs, g.httpLn.Close())
		}
		if g.broker != nil {
			errs = append(errs, g.broker.Close())
		}
		if g.cancel != nil {
			g.cancel()
		}
		if g.store != nil {
			errs = append(errs, g.store.Close())
		}
		ctx := context.Background()
		if g.ingester != nil {
			g.reloadMu.Lock()
			if old := g.ingester.swap(&routing{router: &Router{}}); old != nil {
				errs = append(errs, closeFormatters(old.formatters))
			}
			g.reloadMu.Unlock()
		}
		if g.runtime != nil {
			errs = append(errs, g.runtime.Close(ctx))
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// quietHandler drops records below min: mochi logs every rejected packet in
// full at debug level, which would drown lakegate's own debug output.
type quietHandler struct {
	slog.Handler
	min slog.Level
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as), h.min}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name), h.min}
}
