SELECT device, last(ts) AS ts, last(temp) AS temp, last(status) AS status FROM sensors GROUP BY device ORDER BY device
