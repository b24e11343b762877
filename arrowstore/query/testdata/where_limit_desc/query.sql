SELECT ts, device FROM sensors WHERE device <> 'a' ORDER BY ts DESC LIMIT 3
