SELECT device, temp FROM sensors WHERE temp BETWEEN 0 AND 100 AND device NOT BETWEEN 'b' AND 'c'
