SELECT device, count(*) AS n FROM sensors WHERE device IN ('d1', 'd3') GROUP BY device ORDER BY device
