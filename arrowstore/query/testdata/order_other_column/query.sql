SELECT device, temp FROM sensors ORDER BY temp
