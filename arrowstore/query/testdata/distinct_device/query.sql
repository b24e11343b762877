SELECT DISTINCT device FROM sensors
