SELECT * FROM sensors WHERE ts <> 1
