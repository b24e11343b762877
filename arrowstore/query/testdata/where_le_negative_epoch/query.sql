SELECT ts, device FROM sensors WHERE ts <= -1000
