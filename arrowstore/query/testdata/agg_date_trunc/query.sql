SELECT date_trunc('day', ts) AS day, device, count(*) FROM sensors GROUP BY 1, device ORDER BY day DESC LIMIT 4 OFFSET 1
