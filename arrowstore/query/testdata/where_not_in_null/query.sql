SELECT device FROM sensors WHERE device NOT IN ('a', NULL)
