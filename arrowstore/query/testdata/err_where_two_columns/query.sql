SELECT * FROM sensors WHERE device = note
