SELECT count(DISTINCT device) AS devices, count(device), count(*) FROM sensors
