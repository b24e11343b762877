SELECT ts, device FROM sensors WHERE ts > '2023-11-16' AND ts < '2023-11-15'
