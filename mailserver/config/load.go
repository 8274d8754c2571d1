package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxDocumentBytes bounds the size of a configuration document (50,000
// mailboxes take about 10 MiB).
const MaxDocumentBytes = 64 << 20

// Load reads, decodes and validates the configuration file at path. A
// relative storage path in it stays relative to the process's working
// directory, not to the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading configuration: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("loading configuration %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a YAML (or JSON) configuration document, applies defaults,
// normalises names, validates and compiles it. Unknown and duplicate fields
// are errors. Problems with the content are reported together in a
// *[ValidationError].
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("parsing configuration: larger than %d bytes", MaxDocumentBytes)
	}
	// Strict pass: YAML syntax, duplicate keys, then unknown fields with their paths.
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	var generic any
	if err := json.Unmarshal(j, &generic); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	if _, ok := generic.(map[string]any); !ok {
		return nil, &ValidationError{Errors: []FieldError{{Path: "(document)", Message: "must be a mapping with apiVersion, kind, …"}}}
	}
	var errs []FieldError
	unknownFields(generic, reflect.TypeOf(Config{}), "", &errs)

	// Typed pass over the same JSON. Only if a number or boolean sits where
	// a string belongs (an unquoted DKIM selector 2024) is the YAML decoded
	// again by sigs.k8s.io/yaml, which converts such scalars to strings.
	var c Config
	err = json.Unmarshal(j, &c)
	if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Type.Kind() == reflect.String &&
		(te.Value == "number" || te.Value == "bool") {
		c = Config{}
		err = yaml.Unmarshal(data, &c)
	}
	if err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("decoding configuration: %w", err)
		}
		errs = append(errs, FieldError{Path: te.Field, Message: fmt.Sprintf("expected %s, got %s", te.Type, te.Value)})
		return nil, &ValidationError{Errors: errs}
	}
	return served(finish(&c, errs))
}

// served drops what only the operator's path keeps from a configuration
// the server will hold.
func served(c *Config, err error) (*Config, error) {
	if c != nil {
		c.canonical = nil
	}
	return c, err
}

// New validates and compiles a configuration built in code (by the
// operator, or a test). c is copied; the result is independent of it.
func New(c Config) (*Config, error) {
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encoding configuration: %w", err)
	}
	return parseJSON(data)
}

// Build is New without New's copy: it validates and compiles c in place
// and returns it, and the caller hands c over (it must not change it
// afterwards). For a configuration of 10,000 mailboxes the copy, through
// JSON, was a third of New's time; the operator, which builds a new
// configuration for every compilation, uses Build.
func Build(c *Config) (*Config, error) {
	return finish(c, nil)
}

// parseJSON decodes a JSON document this package encoded — New's copy, or
// the document of a Split the digest in its index vouches for — without
// Parse's YAML pass, which costs most of the time for 10,000 mailboxes:
// such a document has no duplicate keys and no scalars of the wrong type.
// An unknown field is still refused, with its path.
func parseJSON(data []byte) (*Config, error) {
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("parsing configuration: larger than %d bytes", MaxDocumentBytes)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// Parse says precisely what is wrong, with field paths.
		return Parse(data)
	}
	return finish(&c, nil)
}

// finish applies defaults, validates, compiles and hashes c.
func finish(c *Config, errs []FieldError) (*Config, error) {
	applyDefaults(c)
	v := &validator{errs: errs}
	v.validate(c)
	if len(v.errs) > 0 {
		return nil, &ValidationError{Errors: v.errs}
	}
	idx, ferrs := compile(c)
	if len(ferrs) > 0 {
		return nil, &ValidationError{Errors: ferrs}
	}
	c.idx = idx
	canonical, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding configuration: %w", err)
	}
	sum := sha256.Sum256(canonical)
	c.hash = hex.EncodeToString(sum[:])
	c.canonical = canonical
	return c, nil
}

// Hash returns the hex SHA-256 of the canonical encoding of the
// configuration (after defaults and normalisation). Documents that differ
// only in layout, comments, key order or letter case of addresses have the
// same hash. The server reports the hash it serves.
func (c *Config) Hash() string {
	c.mustBeCompiled()
	return c.hash
}

// YAML returns the canonical YAML encoding of the configuration, with
// defaults filled in; [Parse] reads it back to an equal configuration.
func (c *Config) YAML() ([]byte, error) {
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding configuration: %w", err)
	}
	return out, nil
}

func (c *Config) mustBeCompiled() {
	if c.idx == nil {
		panic("config: Config used before being built by config.New, Parse or Load")
	}
}

// FieldError is one problem in a configuration, at a field path such as
// "mailboxes[2].address".
type FieldError struct {
	// Path locates the field, e.g. "domains[0].name".
	Path string
	// Message says what is wrong.
	Message string
}

// Error renders "path: message".
func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	// Errors are in a stable order: decoding problems, then the fields
	// from top to bottom, then alias loops and limits.
	Errors []FieldError
}

// maxReportedErrors bounds the length of ValidationError's message.
const maxReportedErrors = 50

// Error lists the problems, separated by "; " (the first 50 of them).
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration: ")
	for i, fe := range e.Errors {
		if i == maxReportedErrors {
			fmt.Fprintf(&b, "; and %d more", len(e.Errors)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

var durationType = reflect.TypeOf(Duration{})

// unknownFields walks a decoded JSON value alongside the Go type it is meant
// for and reports keys that match no field's json tag exactly.
func unknownFields(v any, t reflect.Type, path string, errs *[]FieldError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok || t == durationType {
			return // a type mismatch is reported by the typed pass
		}
		fields := make(map[string]reflect.Type, t.NumField())
		for i := range t.NumField() {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); f.IsExported() && name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Path: p, Message: "unknown field"})
				continue
			}
			unknownFields(m[k], ft, p, errs)
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return
		}
		for i, el := range list {
			unknownFields(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	}
}
