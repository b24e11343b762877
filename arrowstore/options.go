package arrowstore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// Defaults applied by Options.WithDefaults.
const (
	DefaultTimeColumn   = "ts"
	DefaultMaxRows      = 100_000
	DefaultMaxBytes     = 32 << 20
	DefaultMaxAge       = 10 * time.Second
	DefaultSyncInterval = 200 * time.Millisecond
)

// PartitionColumn is the Hive partition key of every table directory
// ("date=YYYY-MM-DD"). Readers that understand Hive layouts add it as a
// column, so no table may have a column of that name.
const PartitionColumn = "date"

// Options configure a Store.
type Options struct {
	Dir          string           `mapstructure:"dir"`           // data directory
	TimeColumn   string           `mapstructure:"time_column"`   // name of every table's time column; default "ts"
	MaxRows      int              `mapstructure:"max_rows"`      // flush a partition buffer to Parquet at this many rows (default 100_000)
	MaxBytes     int64            `mapstructure:"max_bytes"`     // ... or this many buffered bytes (default 32 MiB)
	MaxAge       time.Duration    `mapstructure:"max_age"`       // ... or when its oldest buffered row is this old (default 10s)
	SyncInterval time.Duration    `mapstructure:"sync_interval"` // fsync period for non-durable (QoS 0) writes (default 200ms)
	Allocator    memory.Allocator `mapstructure:"-"`             // default memory.DefaultAllocator
	Logger       *slog.Logger     `mapstructure:"-"`             // default: discard
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.TimeColumn == "" {
		o.TimeColumn = DefaultTimeColumn
	}
	if o.MaxRows == 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Validate reports every problem with o (after WithDefaults).
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("dir is required"))
	}
	if err := rows.CheckColumnName(o.TimeColumn); err != nil {
		errs = append(errs, fmt.Errorf("time_column: %w", err))
	} else if strings.EqualFold(o.TimeColumn, PartitionColumn) {
		errs = append(errs, fmt.Errorf("time_column: %q is the partition column", o.TimeColumn))
	}
	if o.MaxRows < 1 {
		errs = append(errs, fmt.Errorf("max_rows must be positive, got %d", o.MaxRows))
	}
	if o.MaxBytes < 1 {
		errs = append(errs, fmt.Errorf("max_bytes must be positive, got %d", o.MaxBytes))
	}
	if o.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("max_age must be positive, got %s", o.MaxAge))
	}
	if o.SyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("sync_interval must be positive, got %s", o.SyncInterval))
	}
	if o.Allocator == nil {
		errs = append(errs, errors.New("allocator is required"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("logger is required"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("arrowstore options: %w", errors.Join(errs...))
	}
	return nil
}
