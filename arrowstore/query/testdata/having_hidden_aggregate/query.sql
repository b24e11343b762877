SELECT device FROM sensors GROUP BY device HAVING max(temp) > 1 AND count(*) >= 1
