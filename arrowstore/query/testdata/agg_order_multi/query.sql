SELECT device, ok, count(*) AS n FROM sensors GROUP BY device, ok ORDER BY n DESC, device DESC, ok
