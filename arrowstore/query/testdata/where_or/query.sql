SELECT * FROM sensors WHERE ts > 1 OR ts < 0
