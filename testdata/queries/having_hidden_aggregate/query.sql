SELECT status FROM sensors GROUP BY status HAVING avg(temp) > 26 AND max(battery) > 90 ORDER BY status
