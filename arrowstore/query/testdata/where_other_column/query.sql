SELECT * FROM sensors WHERE device = 'a'
