SELECT device, avg(temp) AS t FROM sensors GROUP BY device ORDER BY 2 DESC
