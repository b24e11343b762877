SELECT device, count(*) FROM sensors GROUP BY device ORDER BY temp
