SELECT device, count(*) AS n, avg(temp) AS avg_temp, min(hum) AS min_hum, max(battery) AS max_batt, sum(temp) AS sum_temp FROM sensors GROUP BY device ORDER BY device
