SELECT avg(temp) FROM sensors
