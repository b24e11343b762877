SELECT ts, temp FROM sensors ORDER BY ts DESC LIMIT 4
