SELECT ts, device, note FROM sensors WHERE device IS NULL OR note IS NOT NULL
