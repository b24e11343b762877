SELECT ts, temp FROM sensors ORDER BY temp LIMIT 1
