SELECT device, max(ts) AS latest FROM sensors GROUP BY device HAVING latest >= '2023-11-15'
