DESC nope
