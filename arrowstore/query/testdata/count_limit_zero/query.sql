SELECT count(*) FROM sensors LIMIT 0
