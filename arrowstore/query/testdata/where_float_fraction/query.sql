SELECT device, count FROM sensors WHERE count < 0.5 AND count > -7.5
