SELECT ts FROM sensors HAVING ts > 0
