SELECT * FROM sensors WHERE ts IN (1, 2)
