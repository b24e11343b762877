SELECT ts, humidity FROM sensors
