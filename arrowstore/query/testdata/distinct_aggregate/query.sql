SELECT DISTINCT count(*) AS n FROM sensors GROUP BY device ORDER BY n
