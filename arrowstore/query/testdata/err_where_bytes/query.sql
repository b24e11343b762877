SELECT * FROM sensors WHERE raw = 'x'
