SELECT ts, ts, msg, events.* FROM events
