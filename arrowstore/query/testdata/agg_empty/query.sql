SELECT count(*), sum(temp), first(device) FROM sensors WHERE ts > '2030-01-01'
