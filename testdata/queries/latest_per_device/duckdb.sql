SELECT device, max(ts) AS ts, arg_max(temp, ts) AS temp, arg_max(status, ts) AS status FROM sensors GROUP BY device ORDER BY device
