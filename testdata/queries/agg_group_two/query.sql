SELECT device, status, count(*) AS n, min(battery) AS low FROM sensors GROUP BY device, status ORDER BY device, status
