SELECT ts FROM sensors ORDER BY temp
