SELECT device FROM sensors GROUP BY device ORDER BY sum(battery) DESC, device
