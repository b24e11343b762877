SELECT device, temp, ts FROM sensors ORDER BY ts DESC
