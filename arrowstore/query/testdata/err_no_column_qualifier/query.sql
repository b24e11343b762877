SELECT other.ts FROM sensors
