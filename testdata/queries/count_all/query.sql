SELECT count(*) AS n FROM sensors
