SELECT sum(device) FROM sensors
