SELECT count(*) FROM sensors ORDER BY temp
