INSERT INTO sensors (ts) VALUES (1)
