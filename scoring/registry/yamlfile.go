package registry

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The YAML shapes, decoded strictly. Order and line numbers come from a
// second pass over the yaml.Node tree: maps lose both.
type fileYAML struct {
	Models map[string]modelYAML `yaml:"models"`
}

type modelYAML struct {
	Versions []versionYAML     `yaml:"versions"`
	Aliases  map[string]string `yaml:"aliases"`
}

type versionYAML struct {
	Version  string            `yaml:"version"`
	File     string            `yaml:"file"`
	SHA256   string            `yaml:"sha256"`
	Created  createdTime       `yaml:"created"`
	Metadata map[string]string `yaml:"metadata"`
}

// createdTime is a time.Time whose decoding errors carry the line, which
// yaml.v3 drops for time.Time's own.
type createdTime struct{ time.Time }

func (c *createdTime) UnmarshalYAML(n *yaml.Node) error {
	if err := n.Decode(&c.Time); err != nil {
		return fmt.Errorf("line %d: created %q is not a time such as 2026-11-01T10:00:00Z", n.Line, n.Value)
	}
	return nil
}

// validName keeps every name usable as one path element inside the folder.
var validName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// nameProblem refuses names that could escape the folder or hide in it
// (".registry.lock" is ours); "" means the name is fine.
func nameProblem(kind, name string) string {
	if !validName.MatchString(name) || strings.Contains(name, "..") || strings.HasPrefix(name, ".") {
		return fmt.Sprintf("%s %q: use letters, digits, '.', '_' and '-', not starting with '.' and without '..'", kind, name)
	}
	return ""
}

func checkName(kind, name string) error {
	if p := nameProblem(kind, name); p != "" {
		return fmt.Errorf("%w: %s", ErrInvalid, p)
	}
	return nil
}

// parseRegistry decodes registry.yaml; every error wraps ErrInvalid and
// names the file and, where it can, the line.
func parseRegistry(path string, data []byte) ([]*model, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, path, yamlMessage(err))
	}
	var f fileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, path, yamlMessage(err))
	}
	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("%w: %s: line %d: %s", ErrInvalid, path, line, fmt.Sprintf(format, args...))
	}
	modelsNode := valueOf(&doc, "models")
	if modelsNode == nil || modelsNode.Kind != yaml.MappingNode {
		return nil, nil // empty file, or "models:" with nothing under it
	}
	var models []*model
	for i := 0; i+1 < len(modelsNode.Content); i += 2 {
		key, node := modelsNode.Content[i], modelsNode.Content[i+1]
		m, err := parseModel(key.Value, f.Models[key.Value], node, func(line int, format string, args ...any) error {
			if line == 0 {
				line = key.Line
			}
			return bad(line, "model %s: %s", key.Value, fmt.Sprintf(format, args...))
		})
		if err != nil {
			return nil, err
		}
		models = append(models, m)
	}
	return models, nil
}

func parseModel(name string, my modelYAML, node *yaml.Node, bad func(int, string, ...any) error) (*model, error) {
	if p := nameProblem("model name", name); p != "" {
		return nil, bad(0, "%s", p)
	}
	m := &model{name: name}
	versionNodes := valueOf(node, "versions")
	seen := map[string]bool{}
	for j, v := range my.Versions {
		line := 0
		if versionNodes != nil && j < len(versionNodes.Content) {
			line = versionNodes.Content[j].Line
		}
		if err := checkVersion(v, seen); err != nil {
			return nil, bad(line, "%s", err)
		}
		seen[v.Version] = true
		m.versions = append(m.versions, Version{Version: v.Version, File: v.File, SHA256: strings.ToLower(v.SHA256), Created: v.Created.Time, Metadata: v.Metadata})
	}
	aliasNodes := valueOf(node, "aliases")
	if aliasNodes == nil || aliasNodes.Kind != yaml.MappingNode {
		return m, nil
	}
	for j := 0; j+1 < len(aliasNodes.Content); j += 2 {
		key := aliasNodes.Content[j]
		target := my.Aliases[key.Value]
		if p := nameProblem("alias", key.Value); p != "" {
			return nil, bad(key.Line, "%s", p)
		}
		if !seen[target] {
			return nil, bad(key.Line, "alias %s points at version %q, which is not listed", key.Value, target)
		}
		m.aliases = append(m.aliases, alias{key.Value, target})
	}
	return m, nil
}

func checkVersion(v versionYAML, seen map[string]bool) error {
	if p := nameProblem("version", v.Version); p != "" {
		return errors.New(p)
	}
	file := filepath.FromSlash(v.File)
	switch {
	case seen[v.Version]:
		return fmt.Errorf("version %s is listed twice", v.Version)
	case v.File == "":
		return fmt.Errorf("version %s: file is required", v.Version)
	case !filepath.IsLocal(file) || strings.Contains(v.File, `\`):
		return fmt.Errorf("version %s: file %q must be a path inside the registry folder, relative to it", v.Version, v.File)
	case !isSHA256(v.SHA256):
		return fmt.Errorf("version %s: sha256 %q is not 64 hex digits", v.Version, v.SHA256)
	case v.Created.IsZero():
		return fmt.Errorf("version %s: created is required (e.g. 2026-11-01T10:00:00Z)", v.Version)
	}
	return nil
}

func isSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// valueOf returns the value of key in a mapping (or in a document's
// mapping), or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var yamlFieldNotFound = regexp.MustCompile(`field (\S+) not found in type registry\.(\w+)`)

// yamlPlaces names, in the file's terms, where each Go type decodes.
var yamlPlaces = map[string]string{
	"fileYAML":    "at the top level (want models)",
	"modelYAML":   "in a model (want versions, aliases)",
	"versionYAML": "in a version (want version, file, sha256, created, metadata)",
}

var yamlTypeNames = strings.NewReplacer(
	"into registry.fileYAML", "into the registry (want a mapping with models)",
	"into registry.modelYAML", "into a model",
	"into registry.versionYAML", "into a version",
)

// yamlMessage turns yaml.v3's Go-centric wording into the file's terms.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = yamlFieldNotFound.ReplaceAllStringFunc(msg, func(m string) string {
		sub := yamlFieldNotFound.FindStringSubmatch(m)
		return fmt.Sprintf("unknown key %q %s", sub[1], yamlPlaces[sub[2]])
	})
	return yamlTypeNames.Replace(msg)
}

// encodeRegistry writes models in their order, two-space indented, with
// metadata as one flow mapping per version.
func encodeRegistry(models []*model) ([]byte, error) {
	modelsNode := mapping()
	if len(models) == 0 {
		modelsNode.Style = yaml.FlowStyle // "models: {}"
	}
	for _, m := range models {
		versions := &yaml.Node{Kind: yaml.SequenceNode}
		for _, v := range m.versions {
			item := mapping()
			var created yaml.Node
			if err := created.Encode(v.Created.UTC()); err != nil {
				return nil, err
			}
			addPair(item, "version", scalar(v.Version))
			addPair(item, "file", scalar(v.File))
			addPair(item, "sha256", scalar(v.SHA256))
			addPair(item, "created", &created)
			if len(v.Metadata) > 0 {
				md := mapping()
				md.Style = yaml.FlowStyle
				keys := make([]string, 0, len(v.Metadata))
				for k := range v.Metadata {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					addPair(md, k, scalar(v.Metadata[k]))
				}
				addPair(item, "metadata", md)
			}
			versions.Content = append(versions.Content, item)
		}
		entry := mapping()
		addPair(entry, "versions", versions)
		if len(m.aliases) > 0 {
			aliases := mapping()
			for _, a := range m.aliases {
				addPair(aliases, a.name, scalar(a.version))
			}
			addPair(entry, "aliases", aliases)
		}
		addPair(modelsNode, m.name, entry)
	}
	root := mapping()
	addPair(root, "models", modelsNode)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encoding registry.yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding registry.yaml: %w", err)
	}
	return buf.Bytes(), nil
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func addPair(m *yaml.Node, key string, value *yaml.Node) {
	m.Content = append(m.Content, scalar(key), value)
}
