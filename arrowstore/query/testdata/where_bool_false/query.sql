SELECT count(*) FROM sensors WHERE ok = false OR ok IS NULL
