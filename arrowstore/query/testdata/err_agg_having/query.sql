SELECT device, count(*) FROM sensors GROUP BY device HAVING count(*) > 1
