SELECT device, status, temp FROM sensors WHERE ts < '2024-03-01 23:00:00' ORDER BY status DESC, temp, device
