SELECT * FROM sensors ORDER BY ts, temp
