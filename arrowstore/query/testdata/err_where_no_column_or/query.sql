SELECT * FROM sensors WHERE ts > 1 OR humidity = 2
