SELECT device, temp FROM sensors WHERE temp > 0 ORDER BY 2 DESC LIMIT 3
