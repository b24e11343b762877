SELECT device, count(*) FROM sensors GROUP BY device HAVING count(*) > 'many'
