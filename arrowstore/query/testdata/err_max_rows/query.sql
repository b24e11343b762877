SELECT ts FROM sensors
