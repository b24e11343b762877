SELECT * FROM sensors JOIN events ON sensors.ts = events.ts
