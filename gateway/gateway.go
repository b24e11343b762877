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
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/query"
	"github.com/lakegate/lakegate/formatters"
	"github.com/lakegate/lakegate/gateway/source"
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
	// Version is the program's version, reported by GET /status.
	Version string
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
	reloadMu  sync.Mutex // one Reload at a time
	closing   atomic.Bool
	ingester  *Ingester
	acks      *ingestHook  // the broker hook; its ack lanes are a queue on /metrics
	queue     *ingestQueue // QoS 0 messages on their way to the store
	engine    *query.Engine
	broker    *mqtt.Server
	mqttLns   []listeners.Listener
	httpSrv   *http.Server
	httpLn    net.Listener
	closeOnce sync.Once
	closeErr  error

	srcs      []*source.Source // upstream brokers (sources.go)
	ready     atomic.Bool      // GET /readyz: started and not closing (status.go)
	startedAt time.Time

	forwarding *forwarder // uplinks (forwarding.go); nil without any
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
	g := &Gateway{cfg: *cfg, opts: opts, log: log, router: router, sources: sources}
	if g.srcs, err = g.newSources(); err != nil {
		return nil, err
	}
	return g, nil
}

// resolveFormatters finds the module of every formatter the routes name,
// their formats' included (built-in, plugin:PATH or plugins.dir); it reads
// no module yet.
func resolveFormatters(cfg *Config) (map[string]formatters.Source, error) {
	sources := map[string]formatters.Source{}
	var errs []error
	for i, r := range cfg.Routes {
		ids, keys := routeFormatterIDs(i, r)
		for k, id := range ids {
			if _, ok := sources[id]; ok {
				continue
			}
			src, err := formatters.Resolve(id, cfg.Plugins.Dir)
			if err != nil {
				errs = append(errs, &FieldError{Key: keys[k], Reason: err.Error()})
				continue
			}
			sources[id] = src
		}
	}
	return sources, errors.Join(errs...)
}

// loadRouting reads, compiles and instantiates the formatters of sources
// into a routing generation for router, each with its limits from pc
// (plugins.limits and its plugins.overrides entry). On error nothing stays
// loaded.
func (g *Gateway) loadRouting(ctx context.Context, router *Router, sources map[string]formatters.Source, cfg *Config) (_ *routing, err error) {
	pc := &cfg.Plugins
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
		f, err := g.runtime.Load(ctx, id, mod, pc.FormatterLimits(id))
		if err != nil {
			return nil, fmt.Errorf("loading formatter %s from %s: %w", id, src, err)
		}
		rt.formatters[id] = f
	}
	// A formatter sees a route's options only with its first message: ask
	// it now, so that a mistyped option stops the start (or the reload).
	if err := router.checkRoutes(ctx, rt.formatters); err != nil {
		return nil, cfg.source.locate(err)
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
	g.startedAt = time.Now()

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
	rt, err := g.loadRouting(ctx, g.router, g.sources, &g.cfg)
	if err != nil {
		return err
	}
	g.ingester = &Ingester{store: g.store, log: g.log.With("component", "ingest")}
	g.ingester.setDeadLetter(g.cfg.DeadLetter)
	g.ingester.table.Store(rt)
	if g.forwarding, err = startForwarding(&g.cfg, g.log.With("component", "forward")); err != nil {
		return fmt.Errorf("starting forwarding: %w", err)
	}
	g.ingester.fwd = g.forwarding
	g.queue = newIngestQueue(runCtx, g.ingester, g.log.With("component", "ingest"), runtime.GOMAXPROCS(0))
	g.engine = query.NewEngine(settledSource{query.StoreSource(g.store).(listingSource), g.queue}, query.Options{Logger: g.log.With("component", "query"), MaxRows: g.cfg.Query.MaxRows, Parallelism: g.cfg.Query.Parallelism})

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
	if err := g.startSources(ctx); err != nil {
		return err
	}
	g.ready.Store(true)
	g.log.Info("lakegate started", "mqtt", g.MQTTAddrs(), "http", g.HTTPAddr(), "data", sc.Dir, "sources", len(g.srcs))
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

// Close shuts the gateway down gracefully within shutdown_timeout: /readyz
// turns 503, the sources and the MQTT listeners stop taking messages (a
// client that does not read is cut off at the deadline), the messages being
// formatted finish (or are cancelled at the deadline, unacknowledged), the
// HTTP server stops, and the store flushes and closes. It is safe after a
// failed Start and twice.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.closing.Store(true)
		g.ready.Store(false)
		timeout := g.cfg.ShutdownTimeout
		if timeout <= 0 {
			timeout = defaultShutdownTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var errs []error
		errs = append(errs, g.closeSources(ctx))
		if g.broker != nil {
			var berr error
			if runBounded(ctx, func() { berr = g.broker.Close() }) {
				errs = append(errs, berr)
			} else {
				// A client whose socket is full holds its connection's
				// write lock; closing the connections releases it.
				g.log.Warn("shutdown deadline: cutting off MQTT clients still connected", "timeout", timeout)
				for _, cl := range g.broker.Clients.GetAll() {
					cl.Stop(errShuttingDown)
				}
			}
		}
		if g.queue != nil && !runBounded(ctx, g.queue.close) {
			g.log.Warn("shutdown deadline: QoS 0 messages still queued for the store", "timeout", timeout)
		}
		if g.ingester != nil && !runBounded(ctx, g.waitInflight) {
			g.log.Warn("shutdown deadline: cancelling messages still being formatted; they are not acknowledged", "timeout", timeout)
		}
		if g.httpSrv != nil {
			if err := g.httpSrv.Shutdown(ctx); err != nil {
				errs = append(errs, g.httpSrv.Close())
			}
		} else if g.httpLn != nil {
			errs = append(errs, g.httpLn.Close())
		}
		if g.cancel != nil {
			g.cancel()
		}
		errs = append(errs, g.forwarding.close(ctx)) // after the last message: its outbox items are synced
		if g.store != nil {
			errs = append(errs, g.store.Close())
		}
		if g.ingester != nil {
			g.reloadMu.Lock()
			if old := g.ingester.swap(&routing{router: &Router{}}); old != nil {
				errs = append(errs, closeFormatters(old.formatters))
			}
			g.reloadMu.Unlock()
		}
		if g.runtime != nil {
			errs = append(errs, g.runtime.Close(context.Background()))
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// errShuttingDown ends the connections still open at the shutdown deadline.
var errShuttingDown = errors.New("lakegate shutting down")

// waitInflight returns once no message is being routed, formatted or
// stored on the current routing generation (it takes and drops its write
// lock; messages arriving meanwhile wait, then go on as usual).
func (g *Gateway) waitInflight() {
	if rt := g.ingester.table.Load(); rt != nil {
		rt.mu.Lock()
		rt.mu.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
	}
}

// runBounded runs fn and reports whether it returned before ctx ended; if
// not, fn goes on in the background.
func runBounded(ctx context.Context, fn func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
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
