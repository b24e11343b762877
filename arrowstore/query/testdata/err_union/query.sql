SELECT ts FROM sensors UNION SELECT ts FROM events
