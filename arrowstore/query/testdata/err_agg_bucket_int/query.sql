SELECT time_bucket('1m', count) AS b, count(*) FROM sensors GROUP BY b
