package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
	"github.com/lakegate/lakegate/plugins"
)

// Ingester is the gateway's data path for one published message: route it,
// format it in the WASM sandbox, store its rows. It knows nothing of MQTT
// packets; the broker hook adapts it.
type Ingester struct {
	router     *Router
	formatters map[string]*plugins.Formatter
	store      *arrowstore.Store
	log        *slog.Logger
	stats      IngestStats
}

// IngestStats counts what happened to published messages, by outcome.
type IngestStats struct {
	Unrouted     atomic.Int64 // no route matched; the broker delivered it as usual
	Stored       atomic.Int64 // messages whose rows were all stored
	RowsStored   atomic.Int64
	RowsRejected atomic.Int64 // rows the store refused (schema conflict, bad name)
	Malformed    atomic.Int64 // the formatter could not parse the payload
	BadTopic     atomic.Int64 // the topic gave an invalid table name
	PluginFailed atomic.Int64 // trap, timeout, memory, output limits
	StoreFailed  atomic.Int64 // the store could not take the rows
}

// IngestStatsSnapshot is a plain copy of IngestStats.
type IngestStatsSnapshot struct {
	Unrouted, Stored, RowsStored, RowsRejected, Malformed, BadTopic, PluginFailed, StoreFailed int64
}

// Snapshot copies the counters.
func (s *IngestStats) Snapshot() IngestStatsSnapshot {
	return IngestStatsSnapshot{
		Unrouted: s.Unrouted.Load(), Stored: s.Stored.Load(), RowsStored: s.RowsStored.Load(),
		RowsRejected: s.RowsRejected.Load(), Malformed: s.Malformed.Load(), BadTopic: s.BadTopic.Load(),
		PluginFailed: s.PluginFailed.Load(), StoreFailed: s.StoreFailed.Load(),
	}
}

// Outcome says what became of one message.
type Outcome struct {
	Routed   bool
	Table    string
	Stored   int // rows stored
	Rejected int // rows refused by the store
}

// ErrAllRowsRejected: the store refused every row the formatter produced.
var ErrAllRowsRejected = errors.New("no row could be stored")

// Ingest routes, formats and stores msg. durable asks the store to have the
// rows fsynced before returning (QoS 1 and 2). A message no route matches is
// not an error: Outcome.Routed is false. Errors wrap the rows sentinels
// (ErrMalformedPayload, ErrInvalidName, ErrPluginFailed, ...) or
// ErrAllRowsRejected.
func (in *Ingester) Ingest(ctx context.Context, msg *rows.Message, durable bool) (Outcome, error) {
	m, ok, err := in.router.Match(msg.Topic)
	if !ok {
		in.stats.Unrouted.Add(1)
		return Outcome{}, nil
	}
	out := Outcome{Routed: true, Table: m.Table}
	if err != nil {
		in.stats.BadTopic.Add(1)
		return out, err
	}
	f := in.formatters[m.Formatter]
	rs, err := f.Format(ctx, msg, m.Route)
	if err != nil {
		switch {
		case errors.Is(err, rows.ErrMalformedPayload):
			in.stats.Malformed.Add(1)
		default:
			in.stats.PluginFailed.Add(1)
		}
		return out, fmt.Errorf("formatting for table %s with %s: %w", m.Table, m.Formatter, err)
	}
	if len(rs) == 0 {
		in.stats.Stored.Add(1)
		return out, nil
	}
	res, err := in.store.Write(ctx, rs, durable)
	if err != nil {
		in.stats.StoreFailed.Add(1)
		return out, fmt.Errorf("storing rows of table %s: %w", m.Table, err)
	}
	out.Stored, out.Rejected = res.Stored, len(res.Rejected)
	in.stats.RowsStored.Add(int64(res.Stored))
	if len(res.Rejected) > 0 {
		in.stats.RowsRejected.Add(int64(len(res.Rejected)))
		for _, r := range res.Rejected {
			in.log.Warn("row rejected", "topic", msg.Topic, "client", msg.ClientID, "row", r.Index, "reason", r.Err)
		}
		if res.Stored == 0 {
			return out, fmt.Errorf("%w: %w", ErrAllRowsRejected, res.Rejected[0].Err)
		}
	}
	in.stats.Stored.Add(1)
	return out, nil
}
