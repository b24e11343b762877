SELECT ts, device FROM sensors WHERE device NOT LIKE '%a%'
