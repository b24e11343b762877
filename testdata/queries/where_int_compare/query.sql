SELECT ts, device, battery FROM sensors WHERE battery < 55 ORDER BY battery, device, ts LIMIT 10
