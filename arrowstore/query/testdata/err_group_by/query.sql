SELECT count(*) FROM sensors GROUP BY device
