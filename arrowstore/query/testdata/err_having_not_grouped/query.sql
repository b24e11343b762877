SELECT device, count(*) FROM sensors GROUP BY device HAVING temp > 1
