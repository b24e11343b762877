SELECT device, temp, count(*) FROM sensors GROUP BY device
