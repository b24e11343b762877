SELECT count(*) AS n, count(temp), sum(temp), min(temp), max(temp), avg(count), first(device), last(device), min(ts), max(device), sum(count) FROM sensors
