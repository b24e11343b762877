SELECT device, max(temp) AS mx, count(*) AS n FROM sensors WHERE status = 'error' GROUP BY device ORDER BY mx DESC, n, device
