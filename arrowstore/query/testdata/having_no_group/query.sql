SELECT count(*) FROM sensors HAVING count(*) > 100
