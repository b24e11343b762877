SELECT ts, device, status, temp FROM sensors WHERE (status = 'error' OR temp > 35) AND NOT device = 'd1' ORDER BY ts LIMIT 10
