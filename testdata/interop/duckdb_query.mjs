// Runs one SQL statement in an in-memory DuckDB and prints the rows as JSON.
// Used by the interop tests to read result tables the way analysts do.
// Usage: NODE_PATH=<node_modules> node duckdb_query.mjs "SELECT ..."
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_PATH || '.', 'noop.js'));
const { DuckDBInstance } = require('@duckdb/node-api');

const sql = process.argv[2];
if (!sql) {
  console.error('usage: duckdb_query.mjs SQL');
  process.exit(2);
}
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
try {
  const reader = await conn.runAndReadAll(sql);
  const rows = reader.getRowObjectsJson();
  process.stdout.write(JSON.stringify(rows) + '\n');
} catch (err) {
  console.error(String(err && err.message || err));
  process.exit(1);
}
