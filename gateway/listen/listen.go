// Package listen builds lakegate's MQTT listeners for the mochi broker:
// plain TCP, TLS (with optional client-certificate verification) and
// WebSocket (for browser dashboards, also over TLS, with an origin
// allow-list), each on its own address, each guarding its connections
// with a Guard. See README.md.
package listen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Listener types.
const (
	TypeTCP = "tcp"
	TypeTLS = "tls"
	TypeWS  = "ws"
)

// Types lists the listener types in the order the docs give them.
var Types = []string{TypeTCP, TypeTLS, TypeWS}

// TLSFiles name the PEM files of a TLS listener.
type TLSFiles struct {
	CertFile string
	KeyFile  string
	// ClientCAFile, when set, makes the listener require a client
	// certificate signed by one of these CAs.
	ClientCAFile string
}

// Spec describes one listener.
type Spec struct {
	ID      string
	Type    string // TypeTCP, TypeTLS or TypeWS; empty means TypeTCP
	Address string
	// TLS is required for TypeTLS; for TypeWS it makes the listener wss.
	TLS *TLSFiles
	// AllowedOrigins (TypeWS only) are the origins (scheme://host[:port],
	// or AnyOrigin) of the web pages that may connect besides those served
	// from the listener's own host; see originPolicy.
	AllowedOrigins []string
}

// PanicMessage is the message of the error logged when the broker panicked
// while serving a connection (the connection is closed, the broker goes on).
const PanicMessage = "broker panicked serving a connection"

// Listener is a mochi listener; build it with New.
type Listener struct {
	spec    Spec
	tlsCfg  *tls.Config
	origins originPolicy
	guard   Guard
	log     *slog.Logger

	mu           sync.Mutex
	ln           net.Listener
	srv          *http.Server
	closeClients func(listenerID string) // see SetCloseClients
	closed       atomic.Bool
}

// SetCloseClients sets how Close disconnects the listener's clients,
// instead of the function mochi passes to Close: mochi v2.7.9's own
// (Clients.GetByListener) takes its client map's read lock twice, and
// deadlocks with a client detaching at the same moment, which waits for
// the write lock in between.
func (l *Listener) SetCloseClients(fn func(listenerID string)) {
	l.mu.Lock()
	l.closeClients = fn
	l.mu.Unlock()
}

var _ listeners.Listener = (*Listener)(nil)

// New loads the listener's certificates; it binds nothing (Init does).
func New(spec Spec, guard Guard) (*Listener, error) {
	if spec.Type == "" {
		spec.Type = TypeTCP
	}
	l := &Listener{spec: spec, guard: guard, log: slog.New(slog.DiscardHandler)}
	if len(spec.AllowedOrigins) > 0 && spec.Type != TypeWS {
		return nil, fmt.Errorf("listener %s: allowed_origins applies to type ws only", spec.ID)
	}
	origins, err := newOriginPolicy(spec.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", spec.ID, err)
	}
	l.origins = origins
	switch spec.Type {
	case TypeTCP:
		if spec.TLS != nil {
			return nil, fmt.Errorf("listener %s: tls settings need type tls or ws", spec.ID)
		}
	case TypeTLS, TypeWS:
		if spec.TLS == nil {
			if spec.Type == TypeTLS {
				return nil, fmt.Errorf("listener %s: type tls needs tls.cert_file and tls.key_file", spec.ID)
			}
			break
		}
		cfg, err := LoadTLS(*spec.TLS)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", spec.ID, err)
		}
		l.tlsCfg = cfg
	default:
		return nil, fmt.Errorf("listener %s: unknown type %q (want one of %v)", spec.ID, spec.Type, Types)
	}
	return l, nil
}

// LoadTLS builds a server TLS configuration (TLS 1.2 or later) from PEM files.
func LoadTLS(f TLSFiles) (*tls.Config, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("tls needs cert_file and key_file")
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA file %s holds no PEM certificate", f.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ID is the listener's id.
func (l *Listener) ID() string { return l.spec.ID }

// Address is the bound address once Init has run (useful with port 0),
// else the configured one.
func (l *Listener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.spec.Address
}

// Protocol is tcp, tls, ws or wss.
func (l *Listener) Protocol() string {
	if l.spec.Type == TypeWS && l.tlsCfg != nil {
		return "wss"
	}
	return l.spec.Type
}

// Init binds the address.
func (l *Listener) Init(log *slog.Logger) error {
	if log != nil {
		l.log = log.With("listener", l.spec.ID)
	}
	ln, err := net.Listen("tcp", l.spec.Address)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", l.spec.Address, err)
	}
	if l.tlsCfg != nil {
		ln = tls.NewListener(ln, l.tlsCfg)
	}
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	return nil
}

// Serve accepts connections until Close and hands each, guarded, to establish.
func (l *Listener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	ln := l.ln
	l.mu.Unlock()
	if ln == nil {
		return
	}
	handle := func(c net.Conn) {
		// A panic in mochi's handling of one connection (its packet
		// decoders have indexed past malformed input before, see
		// ErrMalformedSubscribe) ends that connection, not the process.
		// mochi skips its disconnect bookkeeping for it, so it is logged
		// as an error to be fixed.
		defer func() {
			if r := recover(); r != nil {
				_ = c.Close()
				l.log.Error(PanicMessage, "remote", c.RemoteAddr().String(), "panic", r, "stack", string(debug.Stack()))
			}
		}()
		if err := establish(l.spec.ID, l.guard.Wrap(c)); err != nil && !l.closed.Load() {
			l.log.Debug("connection ended", "remote", c.RemoteAddr().String(), "error", err)
		}
	}
	if l.spec.Type == TypeWS {
		up := &websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// A refused origin gets 403 Forbidden from the upgrader.
			CheckOrigin: func(r *http.Request) bool {
				if l.origins.allows(r) {
					return true
				}
				l.log.Info("websocket handshake refused: origin not allowed",
					"origin", r.Header.Get("Origin"), "host", r.Host, "remote", r.RemoteAddr)
				return false
			},
		}
		srv := &http.Server{
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				handle(&wsConn{Conn: c.NetConn(), ws: c})
			}),
		}
		l.mu.Lock()
		l.srv = srv
		l.mu.Unlock()
		if l.closed.Load() {
			return
		}
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !l.closed.Load() {
			l.log.Error("websocket listener stopped", "error", err)
		}
		return
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if !l.closed.Load() {
				l.log.Error("listener stopped", "error", err)
			}
			return
		}
		go handle(c)
	}
}

// Close stops accepting and closes the listener's clients.
func (l *Listener) Close(closeClients listeners.CloseFn) {
	if !l.closed.CompareAndSwap(false, true) {
		return
	}
	l.mu.Lock()
	ln, srv := l.ln, l.srv
	if l.closeClients != nil {
		closeClients = l.closeClients
	}
	l.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	closeClients(l.spec.ID)
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// wsConn carries the MQTT byte stream in binary WebSocket messages.
type wsConn struct {
	net.Conn // the underlying connection, for addresses and deadlines
	ws       *websocket.Conn
	r        io.Reader // the message being read, or nil
}

// errTextMessage: MQTT over WebSocket uses binary messages only.
var errTextMessage = errors.New("websocket: MQTT needs binary messages")

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errTextMessage
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }
