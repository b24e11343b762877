SELECT * FROM sensors WHERE temp = 'hot'
