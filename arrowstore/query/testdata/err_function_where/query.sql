SELECT * FROM sensors WHERE ts > now()
