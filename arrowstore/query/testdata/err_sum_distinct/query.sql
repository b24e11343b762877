SELECT sum(DISTINCT temp) FROM sensors
