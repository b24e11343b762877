SELECT count(*) AS n FROM sensors WHERE device = 'a' AND ts < '2023-11-14T22:13:20.001Z'
