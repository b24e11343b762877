SELECT ts, device FROM sensors WHERE ts < 1700000000000
