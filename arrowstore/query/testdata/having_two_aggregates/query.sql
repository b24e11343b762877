SELECT device, min(temp), max(temp) FROM sensors GROUP BY device HAVING max(temp) > min(temp)
