SELECT count(*) AS n FROM sensors WHERE door
