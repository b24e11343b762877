package sdk

// Level is a log level; the numbers are those of log/slog.
type Level int32

// Log levels.
const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// String returns the level's name.
func (l Level) String() string {
	switch {
	case l < LevelInfo:
		return "DEBUG"
	case l < LevelWarn:
		return "INFO"
	case l < LevelError:
		return "WARN"
	}
	return "ERROR"
}

// Log sends one line to the host's logger. The host limits how often a
// formatter may log and how long a line may be (ABI.md, "Limits"), so use
// it for rare events, not per message.
func Log(level Level, msg string) { logMessage(level, msg) }
