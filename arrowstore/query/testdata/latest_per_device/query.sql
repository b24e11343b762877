SELECT device, last(ts) AS ts, last(temp) AS temp, last(count) AS count FROM sensors WHERE device IS NOT NULL GROUP BY device ORDER BY device
