SELECT device, count(*) FROM sensors WHERE ts > '2030-01-01' GROUP BY device
