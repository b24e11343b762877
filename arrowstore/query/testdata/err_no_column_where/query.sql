SELECT * FROM sensors WHERE humidity > 'x'
