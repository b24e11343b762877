SELECT device, count(*) AS n FROM sensors WHERE device IS NOT NULL GROUP BY device ORDER BY n DESC LIMIT 2
