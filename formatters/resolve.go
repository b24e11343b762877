package formatters

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// PluginPrefix starts a formatter id that names a module file:
// `formatter: plugin:/etc/lakegate/acme.wasm`.
const PluginPrefix = "plugin:"

// MaxModuleSize is the largest module file Source.Module reads (the JSON
// formatter, with the Go runtime, is about 2 MB).
const MaxModuleSize = 64 << 20

// ErrUnknown is wrapped by Resolve's error for an id that names no
// built-in formatter, no plugin file and no module in the plugin directory.
var ErrUnknown = errors.New("unknown formatter")

// Source is where a formatter's module comes from: a built-in or a file.
type Source struct {
	ID   string // the id as the route gives it
	Path string // the .wasm file; "" for a built-in
	// builtin is the registry entry when Path is "".
	builtin Builtin
}

// Builtin reports whether the module is shipped inside the binary.
func (s Source) Builtin() bool { return s.Path == "" }

// String describes the source for logs and errors.
func (s Source) String() string {
	if s.Path == "" {
		return "built-in " + s.ID
	}
	return s.Path
}

// Resolve finds the module a route's formatter id names, in this order:
//
//   - a built-in formatter ("json");
//   - "plugin:PATH", a .wasm file (a relative PATH is relative to the
//     working directory);
//   - ID.wasm in dir, the configured plugin directory ("" for none): a
//     plugin's id there is its file's base name without .wasm.
//
// It only checks that a file exists and is a regular file; Module reads it,
// so a gateway can resolve ids when it validates its configuration and
// read the modules when it starts. Built-ins win over files of the same
// name, so a plugin directory cannot replace "json".
func Resolve(id, dir string) (Source, error) {
	if b, ok := Lookup(id); ok {
		return Source{ID: id, builtin: b}, nil
	}
	if path, ok := strings.CutPrefix(id, PluginPrefix); ok {
		if path == "" {
			return Source{}, fmt.Errorf("formatter %q: %w: no path after %s", id, ErrUnknown, PluginPrefix)
		}
		if err := checkFile(path); err != nil {
			return Source{}, fmt.Errorf("formatter %q: %w", id, err)
		}
		return Source{ID: id, Path: path}, nil
	}
	if dir != "" && validPluginID(id) {
		path := filepath.Join(dir, id+".wasm")
		if err := checkFile(path); err == nil {
			return Source{ID: id, Path: path}, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return Source{}, fmt.Errorf("formatter %q: %w", id, err)
		}
	}
	known := IDs()
	where := fmt.Sprintf("built-in: %s", strings.Join(known, ", "))
	if dir != "" {
		if ids, err := PluginIDs(dir); err == nil {
			where += fmt.Sprintf("; in %s: %s", dir, strings.Join(ids, ", "))
		}
	}
	return Source{}, fmt.Errorf("formatter %q: %w (%s; or plugin:PATH.wasm)", id, ErrUnknown, where)
}

// Module returns the module's bytes: the built-in's (shared, do not
// modify) or the file's, read now.
func (s Source) Module() ([]byte, error) {
	if s.Path == "" {
		if s.builtin.Module == nil {
			return nil, fmt.Errorf("formatter %q: %w", s.ID, ErrUnknown)
		}
		return s.builtin.Module(), nil
	}
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("reading plugin %s: %w", s.Path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading plugin %s: %w", s.Path, err)
	}
	if len(b) > MaxModuleSize {
		return nil, fmt.Errorf("reading plugin %s: larger than %d bytes", s.Path, MaxModuleSize)
	}
	return b, nil
}

// PluginIDs lists the plugin ids of dir (its *.wasm files' base names),
// sorted. Names a route could not use as an id are left out.
func PluginIDs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing plugins: %w", err)
	}
	var ids []string
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".wasm")
		if ok && !e.IsDir() && validPluginID(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// validPluginID accepts ids that can only name a file directly in the
// plugin directory: letters, digits, '_', '-' and '.', not starting with '.'.
func validPluginID(id string) bool {
	if id == "" || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func checkFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("plugin file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("plugin file %s is not a regular file", path)
	}
	if fi.Size() > MaxModuleSize {
		return fmt.Errorf("plugin file %s is larger than %d bytes", path, MaxModuleSize)
	}
	return nil
}
