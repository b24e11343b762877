// Times queries in DuckDB over the Parquet files of one lakegate table, for
// `lakegate bench-query`, which runs the same queries through lakegate's
// engine on the same files in the same run.
//
// Usage: node bench.mjs < request.json, where request.json is
// {"dir": "/data", "table": "sensors", "runs": 3, "queries": ["SELECT ...", ...]}.
// The table becomes a view over dir/table/*/*.parquet (Hive partitions, the
// date= column left out). Each query runs `runs` times; it prints one JSON
// array with, per query, {"ms": [elapsed per run], "cpu_ms": [CPU time of the
// process, all threads, per run], "rows": [[cell, ...]]}
// (cells as in conformance.mjs: strings, timestamps as RFC 3339 UTC, or
// null), or {"error": "..."}. Node's start and DuckDB's setup are not timed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

const req = JSON.parse(readFileSync(0, 'utf8'));
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
await conn.run("SET TimeZone = 'UTC'");
await conn.run("SET default_null_order = 'nulls_first_on_asc_last_on_desc'");
const glob = join(req.dir, req.table, '*', '*.parquet').replaceAll("'", "''");
await conn.run(`CREATE VIEW "${req.table}" AS SELECT * EXCLUDE (date) FROM ` +
  `read_parquet('${glob}', hive_partitioning = true, union_by_name = true)`);

function cell(v, type) {
  if (v === null || v === undefined) return null;
  if (type.startsWith('TIMESTAMP')) {
    let s = String(v).replace(' ', 'T');
    s = s.endsWith('+00') ? s.slice(0, -3) + 'Z' : s + 'Z';
    return new Date(s).toISOString();
  }
  return String(v);
}

const out = [];
for (const sql of req.queries) {
  try {
    const ms = [];
    const cpuMs = [];
    let reader;
    for (let i = 0; i < Math.max(1, req.runs); i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      reader = await conn.runAndReadAll(sql);
      ms.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpuMs.push((c.user + c.system) / 1000);
    }
    const types = reader.columnTypes().map((t) => t.toString());
    out.push({ ms, cpu_ms: cpuMs, rows: reader.getRowsJson().map((r) => r.map((v, i) => cell(v, types[i]))) });
  } catch (e) {
    out.push({ error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
