SELECT device, count(*) AS n FROM sensors GROUP BY device HAVING n >= 2
