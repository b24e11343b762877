SELECT ts, device, count FROM sensors WHERE count >= 1
