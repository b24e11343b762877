// Runs one SQL statement in DuckDB and prints {"columns","types","rows"} as
// JSON, so Go tests can check lakegate's Parquet files with a reader that
// shares no code with arrow-go. Usage: node query.mjs "SELECT ..."
import { DuckDBInstance } from '@duckdb/node-api';

const sql = process.argv[2];
if (!sql) {
  console.error('usage: node query.mjs SQL');
  process.exit(2);
}
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
await conn.run("SET TimeZone = 'UTC'");
const reader = await conn.runAndReadAll(sql);
const out = {
  columns: reader.columnNames(),
  types: reader.columnTypes().map((t) => t.toString()),
  rows: reader.getRowsJson(),
};
process.stdout.write(JSON.stringify(out) + '\n');
