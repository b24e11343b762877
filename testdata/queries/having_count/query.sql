SELECT device, count(*) AS n FROM sensors WHERE temp > 30 GROUP BY device HAVING count(*) >= 15 ORDER BY device
