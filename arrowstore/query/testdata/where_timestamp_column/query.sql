SELECT ts, seen FROM sensors WHERE seen < '2000-01-01'
