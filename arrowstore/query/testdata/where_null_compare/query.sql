SELECT count(*) FROM sensors WHERE device = NULL OR NOT device <> NULL
