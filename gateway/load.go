package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix is the prefix of environment variables that override config
// keys: storage.dir is LAKEGATE_STORAGE_DIR.
const EnvPrefix = "LAKEGATE"

// LoadConfig reads the embedded default configuration, merges the YAML file
// at path over it (when path is not empty), applies LAKEGATE_* environment
// overrides, decodes and validates. Every error names the key and, when the
// key came from the file, its line.
func LoadConfig(path string) (*Config, error) {
	var file []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		file = b
	}
	return loadConfig(path, file)
}

// ParseConfig is LoadConfig for YAML already in memory; name is used in messages.
func ParseConfig(name string, data []byte) (*Config, error) { return loadConfig(name, data) }

func loadConfig(name string, file []byte) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultConfigYAML)); err != nil {
		return nil, fmt.Errorf("reading embedded default config: %w", err)
	}
	var doc *yaml.Node
	if file != nil {
		var n yaml.Node
		if err := yaml.Unmarshal(file, &n); err != nil {
			return nil, fmt.Errorf("config %s: %w", name, err)
		}
		doc = &n
		if err := v.MergeConfig(bytes.NewReader(file)); err != nil {
			return nil, fmt.Errorf("config %s: %w", name, err)
		}
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	var cfg Config
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			durationHook,
			byteSizeHook,
			anonymousHook,
		)
	})
	if err != nil {
		return nil, locateErrors(decodeFieldErrors(err), name, doc)
	}
	if err := cfg.Validate(); err != nil {
		return nil, locateErrors(err, name, doc)
	}
	cfg.source = configSource{file: name, doc: doc}
	return &cfg, nil
}

// configSource is where a Config came from, to place errors found after
// loading (a formatter refusing a route's options) on their line.
type configSource struct {
	file string
	doc  *yaml.Node // nil without a file
}

// locate adds the file and line to the FieldErrors in err.
func (s configSource) locate(err error) error { return locateErrors(err, s.file, s.doc) }

func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	if s, ok := data.(string); ok {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q: want e.g. 500ms, 10s, 5m or 1h", s)
		}
		return d, nil
	}
	return data, nil
}

// anonymousHook accepts YAML booleans for auth.allow_anonymous.
func anonymousHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(AnonymousMode("")) {
		return data, nil
	}
	switch x := data.(type) {
	case bool:
		return AnonymousMode(strconv.FormatBool(x)), nil
	case string:
		return AnonymousMode(strings.ToLower(strings.TrimSpace(x))), nil
	}
	return data, nil
}

func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(ByteSize(0)) {
		return data, nil
	}
	switch x := data.(type) {
	case string:
		return ParseByteSize(x)
	case int:
		return ByteSize(x), nil
	case int64:
		return ByteSize(x), nil
	case float64:
		if x != float64(int64(x)) {
			return nil, fmt.Errorf("invalid size %v: want whole bytes", x)
		}
		return ByteSize(x), nil
	}
	return data, nil
}

// decodeFieldErrors turns mapstructure's decode errors into FieldErrors.
func decodeFieldErrors(err error) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		var de *mapstructure.DecodeError
		if errors.As(e, &de) && de.Error() == e.Error() {
			reason := de.Unwrap().Error()
			key := de.Name()
			if rest, ok := strings.CutPrefix(reason, "has invalid keys: "); ok {
				for _, k := range strings.Split(rest, ", ") {
					out = append(out, &FieldError{Key: joinKey(key, k), Reason: "unknown key"})
				}
				return
			}
			out = append(out, &FieldError{Key: key, Reason: reason})
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
			return
		}
		out = append(out, e)
	}
	walk(err)
	return errors.Join(out...)
}

func joinKey(parent, child string) string {
	if parent == "" || strings.HasPrefix(parent, "gateway.") {
		return child
	}
	return parent + "." + child
}

// locateErrors adds the file and line to every FieldError whose key is in doc.
func locateErrors(err error, file string, doc *yaml.Node) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) && doc != nil {
			if line := lineOf(doc, fe.Key); line > 0 {
				fe.Line, fe.File = line, file
			}
		}
	}
	return errors.Join(errs...)
}

// lineOf finds the line of a dotted key path such as "routes[1].formatter"
// in a YAML document; keys compare case-insensitively as viper's do. It
// returns the line of the deepest part of the path that exists, or 0.
func lineOf(doc *yaml.Node, key string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range splitKey(key) {
		if idx, err := strconv.Atoi(part); err == nil && n.Kind == yaml.SequenceNode {
			if idx < 0 || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if strings.EqualFold(n.Content[i].Value, part) {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

// splitKey turns "routes[1].formatter" into ["routes", "1", "formatter"].
func splitKey(key string) []string {
	key = strings.NewReplacer("[", ".", "]", "").Replace(key)
	return strings.Split(key, ".")
}
