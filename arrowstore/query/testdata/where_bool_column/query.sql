SELECT ts, device FROM sensors WHERE ok
