SELECT ts, device FROM sensors WHERE ts > '2023-11-14T22:13:20Z'
