SELECT device, count(*) AS n, sum(count) AS total, max(ok) FROM sensors GROUP BY device
