SELECT count(*) FROM sensors LIMIT 1 OFFSET 1
