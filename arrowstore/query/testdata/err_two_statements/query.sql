SELECT * FROM sensors; SELECT * FROM events
