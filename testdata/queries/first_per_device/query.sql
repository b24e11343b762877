SELECT device, first(ts) AS ts, first(hum) AS hum, first(site) AS site FROM sensors GROUP BY device ORDER BY device
