SELECT count(*) FROM sensors
