SELECT ts, seen FROM sensors WHERE ts <= '2023-11-14T22:13:20.001Z'
