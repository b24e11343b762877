SELECT device, count(*) AS n FROM sensors GROUP BY device HAVING count(*) > 1 ORDER BY n DESC, device
