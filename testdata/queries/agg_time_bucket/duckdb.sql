SELECT time_bucket(INTERVAL '6 hours', ts) AS bucket, count(*) AS n, max(temp) AS mx FROM sensors GROUP BY bucket ORDER BY bucket
