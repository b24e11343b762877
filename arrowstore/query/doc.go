// Package query answers SQL over the tables of an arrowstore: the rows still
// buffered in memory and the rows already written to Parquet, through one
// Source interface.
//
// A query goes through three stages, so the engine can grow without being
// rewritten: the SQL text is parsed by vitess's MySQL-dialect parser into an
// AST; the AST is turned into a plan (which table, which columns, which time
// range, what order, how many rows), which is then bound to the table's Arrow
// schema; and the plan is executed over Arrow arrays, batch by batch: the time
// column is filtered into a list of row indices, the best rows are kept (a
// bounded heap when there is a LIMIT), and only those rows are copied out
// with Arrow's take kernel. Go values are made only for the final result.
//
// Today's SQL is small; see README.md for the exact grammar. Anything outside
// it fails with an error wrapping ErrUnsupported that names the construct.
//
// An Engine is safe for concurrent use.
package query
