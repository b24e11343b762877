SELECT device, avg(count) AS c FROM sensors GROUP BY device HAVING c IS NULL OR NOT c < 0
