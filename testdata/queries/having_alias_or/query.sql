SELECT device, min(hum) AS lo FROM sensors GROUP BY device HAVING lo < 31 OR device = 'd5' ORDER BY device
