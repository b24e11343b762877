SELECT device, min(ts) AS ts, arg_min(hum, ts) AS hum, arg_min(site, ts) AS site FROM sensors GROUP BY device ORDER BY device
