SELECT ts FROM sensors LIMIT 1, 2
