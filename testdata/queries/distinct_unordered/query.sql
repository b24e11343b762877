SELECT DISTINCT status FROM sensors
