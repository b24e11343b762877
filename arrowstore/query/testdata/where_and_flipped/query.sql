SELECT ts, device FROM sensors WHERE ts >= '2023-11-14' AND ts < '2023-11-15' AND 1700000000000 <= ts
