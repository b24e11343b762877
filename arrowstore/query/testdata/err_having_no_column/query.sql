SELECT device, count(*) FROM sensors GROUP BY device HAVING max(humidity) > 1
