SELECT device, count(*) FROM sensors GROUP BY device HAVING count(*) BETWEEN 1 AND 2 AND device NOT IN ('old', 'f')
