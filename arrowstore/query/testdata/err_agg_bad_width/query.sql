SELECT time_bucket('soon', ts) AS b, count(*) FROM sensors GROUP BY b
