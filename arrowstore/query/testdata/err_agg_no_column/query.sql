SELECT max(humidity) FROM sensors
