SELECT device, max(temp) AS mx FROM sensors WHERE status = 'warn' AND door GROUP BY device ORDER BY device
