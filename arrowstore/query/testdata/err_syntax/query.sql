SELEC * FROM sensors
