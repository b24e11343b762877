SELECT DISTINCT device, ok FROM sensors ORDER BY device DESC, ok
