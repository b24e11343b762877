SELECT date_trunc('hour', ts) AS h, count(*) AS n, avg(hum) AS hum FROM sensors WHERE ts < '2024-03-01 23:00:00' GROUP BY h ORDER BY h
