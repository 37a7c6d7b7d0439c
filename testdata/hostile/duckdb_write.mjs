// Writes the DuckDB-made files of the hostile Parquet corpus: the writer
// analysts use, with its own choices of encodings, codecs and types.
// The output is committed; DuckDB's bytes may differ between versions.
// Usage (from the repository root, after make interop):
//   NODE_PATH=third_party/node/node_modules node testdata/hostile/duckdb_write.mjs [out dir]
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(path.resolve(process.env.NODE_PATH || '.', 'noop.js'));
const { DuckDBInstance } = require('@duckdb/node-api');

const out = process.argv[2] || path.dirname(fileURLToPath(import.meta.url));

// 5,000 rows from formulas of i, so every run writes the same values.
const rows = `
  SELECT i AS id,
         (i * 1.25 - 300)::DECIMAL(18,3) AS amount,
         TIMESTAMP '2026-11-20 00:00:00' + to_seconds(i * 37) AS ts,
         CASE WHEN i % 7 = 0 THEN NULL ELSE (i % 97) / 7.0 END::DOUBLE AS score,
         CASE WHEN i % 5 = 0 THEN NULL ELSE [i::FLOAT, (i * 0.5)::FLOAT] END AS vec,
         {'a': (i % 10)::INTEGER, 'b': 'x' || (i % 5)} AS info,
         'name_' || (i % 13) AS name,
         i % 3 = 0 AS flag
  FROM range(5000) t(i)`;

// Types DuckDB writes that a Parquet reader may not know.
const oddTypes = `
  SELECT i AS id,
         uuid_from_i(i) AS u,
         (i::HUGEINT * 1000000000000) AS huge,
         to_seconds(i)::INTERVAL AS iv,
         TIME '12:00:00' + to_seconds(i) AS t,
         TIMESTAMPTZ '2026-11-20 00:00:00+00' + to_seconds(i) AS tstz,
         i::UBIGINT AS ub,
         i::TINYINT AS ti,
         ('\\x' || lpad(printf('%x', i), 4, '0'))::BLOB AS blob
  FROM range(100) t(i)`;

const files = [
  ['duckdb_snappy.parquet', rows, "COMPRESSION snappy, ROW_GROUP_SIZE 2048"],
  ['duckdb_zstd.parquet', rows, "COMPRESSION zstd, ROW_GROUP_SIZE 2048"],
  ['duckdb_gzip.parquet', rows, "COMPRESSION gzip, ROW_GROUP_SIZE 2048"],
  ['duckdb_brotli.parquet', rows, "COMPRESSION brotli"],
  ['duckdb_lz4_raw.parquet', rows, "COMPRESSION lz4_raw"],
  ['duckdb_uncompressed.parquet', rows, "COMPRESSION uncompressed"],
  ['duckdb_v2.parquet', rows, "COMPRESSION zstd, PARQUET_VERSION v2"],
  ['duckdb_empty.parquet', `${rows} LIMIT 0`, "COMPRESSION snappy"],
  ['duckdb_odd_types.parquet', oddTypes, "COMPRESSION snappy"],
];

const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
await conn.run(`CREATE MACRO uuid_from_i(i) AS
  ('00000000-0000-4000-8000-' || lpad(printf('%x', i), 12, '0'))::UUID`);
for (const [name, query, options] of files) {
  const file = path.join(out, name).replaceAll("'", "''");
  await conn.run(`COPY (${query}) TO '${file}' (FORMAT parquet, ${options})`);
  console.log(name);
}
