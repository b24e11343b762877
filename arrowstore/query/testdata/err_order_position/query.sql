SELECT device FROM sensors ORDER BY 3
