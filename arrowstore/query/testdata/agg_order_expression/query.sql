SELECT device, max(temp) FROM sensors GROUP BY device ORDER BY max(temp) DESC, 1
