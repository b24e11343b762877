SELECT * FROM sensors WHERE ts > 'yesterday'
