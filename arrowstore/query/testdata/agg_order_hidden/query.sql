SELECT device FROM sensors GROUP BY device ORDER BY max(ts) DESC LIMIT 3
