SELECT time_bucket('1h', ts) AS hour, count(*) AS n, first(temp), last(temp) FROM sensors WHERE ts >= '2023-11-14' GROUP BY hour
