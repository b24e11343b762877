SELECT s.ts AS time, s.temp AS t, count FROM sensors AS s ORDER BY time DESC LIMIT 2
