SELECT device FROM sensors GROUP BY device HAVING count(*) >
