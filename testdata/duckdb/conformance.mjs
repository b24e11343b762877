// Answers the query conformance set (testdata/queries) with DuckDB over the
// Parquet files of a lakegate data directory, so Go tests can compare
// lakegate's answers with an engine that shares no code with it.
//
// Usage: node conformance.mjs < request.json, where request.json is
// {"dir": "/path/to/data", "queries": ["SELECT ...", ...]}. Every table
// folder of dir (not _wal or other names starting with _ or .) becomes a
// view of the same name over its Hive-partitioned Parquet files, without the
// date= partition column. It prints one JSON array, one element per query:
// {"columns": [...], "types": [...], "rows": [[...]]} with every cell a
// string in lakegate's CSV form (timestamps as 2023-11-14T22:13:20.000Z) or
// null, or {"error": "..."}.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const req = JSON.parse(readFileSync(0, 'utf8'));
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
await conn.run("SET TimeZone = 'UTC'");
// MySQL's (and lakegate's) NULL order: first ascending, last descending.
await conn.run("SET default_null_order = 'nulls_first_on_asc_last_on_desc'");

const quote = (s) => s.replaceAll("'", "''");
for (const ent of readdirSync(req.dir, { withFileTypes: true })) {
  if (!ent.isDirectory() || ent.name.startsWith('_') || ent.name.startsWith('.')) continue;
  const glob = join(req.dir, ent.name, '*', '*.parquet');
  await conn.run(`CREATE VIEW "${ent.name.replaceAll('"', '""')}" AS SELECT * EXCLUDE (date) FROM ` +
    `read_parquet('${quote(glob)}', hive_partitioning = true, union_by_name = true)`);
}

// cell turns one getRowsJson value into lakegate's CSV text.
function cell(v, type) {
  if (v === null || v === undefined) return null;
  if (type.startsWith('TIMESTAMP')) {
    // "2023-11-14 22:13:20.5+00" or "2023-11-14 22:13:20"
    let s = String(v).replace(' ', 'T');
    s = s.endsWith('+00') ? s.slice(0, -3) + 'Z' : s + 'Z';
    return new Date(s).toISOString();
  }
  return String(v);
}

const out = [];
for (const sql of req.queries) {
  try {
    const reader = await conn.runAndReadAll(sql);
    const types = reader.columnTypes().map((t) => t.toString());
    out.push({
      columns: reader.columnNames(),
      types,
      rows: reader.getRowsJson().map((r) => r.map((v, i) => cell(v, types[i]))),
    });
  } catch (e) {
    out.push({ error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
