SELECT DISTINCT device, door FROM sensors ORDER BY device, door
