SELECT ts, device, temp FROM sensors WHERE (device = 'a' OR device = 'b') AND NOT temp > 1
