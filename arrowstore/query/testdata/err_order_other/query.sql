SELECT * FROM sensors ORDER BY temp
