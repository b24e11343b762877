SELECT * FROM sensors WHERE device = 'a' OR ts > 'yesterday'
