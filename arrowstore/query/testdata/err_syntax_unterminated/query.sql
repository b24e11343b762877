SELECT * FROM sensors WHERE ts > '2023
