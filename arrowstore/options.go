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

	DefaultMaxBufferedBytes    = 256 << 20
	DefaultMaintenanceInterval = time.Minute
	DefaultCompactMinFiles     = 8
	DefaultCompactMaxBytes     = 64 << 20
)

// PartitionColumn is the Hive partition key of every table directory
// ("date=YYYY-MM-DD"). Readers that understand Hive layouts add it as a
// column, so no table may have a column of that name.
const PartitionColumn = "date"

// Options configure a Store.
type Options struct {
	Dir          string        `mapstructure:"dir"`           // data directory
	TimeColumn   string        `mapstructure:"time_column"`   // name of every table's time column; default "ts"
	MaxRows      int           `mapstructure:"max_rows"`      // flush a partition buffer to Parquet at this many rows (default 100_000)
	MaxBytes     int64         `mapstructure:"max_bytes"`     // ... or this many buffered bytes (default 32 MiB)
	MaxAge       time.Duration `mapstructure:"max_age"`       // ... or when its oldest buffered row is this old (default 10s)
	SyncInterval time.Duration `mapstructure:"sync_interval"` // fsync period for non-durable (QoS 0) writes (default 200ms)

	// MaxBufferedBytes caps the rows held in memory, not yet in Parquet
	// (estimated bytes, all tables): above it, Write returns
	// ErrBackpressure (default 256 MiB).
	MaxBufferedBytes int64 `mapstructure:"max_buffered_bytes"`

	// Retention deletes a table's date partitions once the whole day is
	// older than this (0: keep forever). RetentionByTable overrides it per
	// table. MaxDiskBytes caps the Parquet bytes of all tables: the oldest
	// date partitions (of any table) go first (0: no cap). Applied every
	// MaintenanceInterval and by Maintain.
	Retention        time.Duration    `mapstructure:"retention"`
	RetentionByTable []TableRetention `mapstructure:"retention_by_table"`
	MaxDiskBytes     int64            `mapstructure:"max_disk_bytes"`

	// Compaction merges files of a date partition smaller than
	// CompactMaxBytes and of about one size into one, once there are
	// CompactMinFiles of them (default 8; negative: never compact),
	// keeping the merged file under CompactMaxBytes (default 64 MiB). See
	// compactionPick.
	CompactMinFiles int   `mapstructure:"compact_min_files"`
	CompactMaxBytes int64 `mapstructure:"compact_max_bytes"`

	// MaintenanceInterval is the period of retention and compaction
	// (default 1m).
	MaintenanceInterval time.Duration `mapstructure:"maintenance_interval"`

	Allocator memory.Allocator `mapstructure:"-"` // default memory.DefaultAllocator
	Logger    *slog.Logger     `mapstructure:"-"` // default: discard
}

// TableRetention is the retention of one table, overriding
// Options.Retention (a list, not a map: see CONVENTIONS, config keys are
// lowercased).
type TableRetention struct {
	Table  string        `mapstructure:"table"`
	MaxAge time.Duration `mapstructure:"max_age"` // 0: keep forever
}

// retentionFor returns the retention of a table; 0 keeps it forever.
func (o Options) retentionFor(table string) time.Duration {
	for _, tr := range o.RetentionByTable {
		if tr.Table == table {
			return tr.MaxAge
		}
	}
	return o.Retention
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
	if o.MaxBufferedBytes == 0 {
		o.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if o.MaintenanceInterval == 0 {
		o.MaintenanceInterval = DefaultMaintenanceInterval
	}
	if o.CompactMinFiles == 0 {
		o.CompactMinFiles = DefaultCompactMinFiles
	}
	if o.CompactMaxBytes == 0 {
		o.CompactMaxBytes = DefaultCompactMaxBytes
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
	if o.MaxBufferedBytes < 1 {
		errs = append(errs, fmt.Errorf("max_buffered_bytes must be positive, got %d", o.MaxBufferedBytes))
	}
	if o.Retention < 0 {
		errs = append(errs, fmt.Errorf("retention must not be negative, got %s", o.Retention))
	}
	for i, tr := range o.RetentionByTable {
		if err := rows.CheckTableName(tr.Table); err != nil {
			errs = append(errs, fmt.Errorf("retention_by_table[%d].table: %w", i, err))
		}
		if tr.MaxAge < 0 {
			errs = append(errs, fmt.Errorf("retention_by_table[%d].max_age must not be negative, got %s", i, tr.MaxAge))
		}
	}
	if o.MaxDiskBytes < 0 {
		errs = append(errs, fmt.Errorf("max_disk_bytes must not be negative, got %d", o.MaxDiskBytes))
	}
	if o.CompactMaxBytes < 1 {
		errs = append(errs, fmt.Errorf("compact_max_bytes must be positive, got %d", o.CompactMaxBytes))
	}
	if o.MaintenanceInterval <= 0 {
		errs = append(errs, fmt.Errorf("maintenance_interval must be positive, got %s", o.MaintenanceInterval))
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
