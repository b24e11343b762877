SELECT count(*) FROM sensors WHERE device LIKE 'a%' GROUP BY device
