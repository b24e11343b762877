SELECT time_bucket('6h', ts) AS bucket, count(*) AS n, max(temp) AS mx FROM sensors GROUP BY bucket ORDER BY bucket
