SELECT ts, device, temp FROM sensors ORDER BY ts DESC LIMIT 5
