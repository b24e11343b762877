SELECT device, count(*) AS n FROM sensors WHERE hum IS NULL GROUP BY device ORDER BY device
