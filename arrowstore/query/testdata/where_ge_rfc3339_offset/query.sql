SELECT ts, device FROM sensors WHERE ts >= '2023-11-14T23:13:20.001+01:00'
