SELECT count(*) AS n FROM sensors WHERE device NOT LIKE '%3'
