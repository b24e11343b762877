SELECT * FROM sensors ORDER BY tz
