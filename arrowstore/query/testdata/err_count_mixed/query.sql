SELECT count(*), device FROM sensors
