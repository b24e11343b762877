SELECT ts, device AS d, temp AS t FROM sensors WHERE device = 'd2' ORDER BY ts DESC LIMIT 5
