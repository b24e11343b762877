SELECT device, count FROM sensors WHERE count > 5 ORDER BY ts DESC LIMIT 2 OFFSET 0
