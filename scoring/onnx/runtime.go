// Package onnx is the only package that talks to ONNX Runtime: it loads the
// shared library, reads model signatures and metadata, and runs sessions.
package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/batchscore/batchscore/scoring"
)

var (
	// ErrRuntime marks an ONNX Runtime library that is missing or unusable.
	ErrRuntime = errors.New("ONNX Runtime unavailable")
	// ErrModel marks a model file that ONNX Runtime cannot load.
	ErrModel = errors.New("model cannot be loaded")
	// ErrNoModel marks a model path where there is no file.
	ErrNoModel = errors.New("model file not found")
)

var (
	initOnce sync.Once
	initErr  error
	initLib  string
)

// Init loads the ONNX Runtime shared library at libPath, once per process.
// Later calls return the first call's result.
func Init(libPath string) error {
	initOnce.Do(func() {
		initLib = libPath
		if _, err := os.Stat(libPath); err != nil {
			initErr = fmt.Errorf("%w: library %s: %v", ErrRuntime, libPath, err)
			return
		}
		ort.SetSharedLibraryPath(libPath)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			hint := ""
			if strings.Contains(err.Error(), "OrtGetApiBase") {
				hint = " (not an ONNX Runtime library)"
			}
			initErr = fmt.Errorf("%w: library %s%s (onnxruntime_go needs ONNX Runtime %s): %v",
				ErrRuntime, libPath, hint, WantVersion, strings.TrimRight(err.Error(), ": "))
		}
	})
	if initErr == nil && initLib != libPath {
		return fmt.Errorf("%w: already loaded from %s", ErrRuntime, initLib)
	}
	return initErr
}

// WantVersion is the ONNX Runtime release whose C API onnxruntime_go speaks.
const WantVersion = "1.24.1"

// Version reports the loaded library's version.
func Version() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}

// Metadata is what a model file says about itself.
type Metadata struct {
	Producer    string            `json:"producer,omitempty"`
	GraphName   string            `json:"graph_name,omitempty"`
	Domain      string            `json:"domain,omitempty"`
	Description string            `json:"description,omitempty"`
	Version     int64             `json:"version"`
	Custom      map[string]string `json:"custom,omitempty"`
}

// Model is a model file read once: the bytes that are hashed are the bytes
// that are inspected and scored with.
type Model struct {
	Path   string
	SHA256 string
	data   []byte
}

// Load reads a model file.
func Load(path string) (*Model, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	sum := sha256.Sum256(data)
	return &Model{Path: path, SHA256: hex.EncodeToString(sum[:]), data: data}, nil
}

// Inspect reads a model file's signature and metadata.
func Inspect(path string) (scoring.Signature, Metadata, error) {
	m, err := Load(path)
	if err != nil {
		return scoring.Signature{}, Metadata{}, err
	}
	return m.Inspect()
}

// Inspect reads the model's signature and metadata without keeping a session.
func (m *Model) Inspect() (scoring.Signature, Metadata, error) {
	var sig scoring.Signature
	var md Metadata
	path := m.Path
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(m.data)
	if err != nil {
		return sig, md, fmt.Errorf("%w: %s: %v", ErrModel, path, err)
	}
	for _, p := range ins {
		sig.Inputs = append(sig.Inputs, port(p))
	}
	for _, p := range outs {
		sig.Outputs = append(sig.Outputs, port(p))
	}
	meta, err := ort.GetModelMetadataWithONNXData(m.data)
	if err != nil {
		return sig, md, fmt.Errorf("%w: %s: metadata: %v", ErrModel, path, err)
	}
	defer meta.Destroy()
	md.Producer, _ = meta.GetProducerName()
	md.GraphName, _ = meta.GetGraphName()
	md.Domain, _ = meta.GetDomain()
	md.Description, _ = meta.GetDescription()
	md.Version, _ = meta.GetVersion()
	keys, _ := meta.GetCustomMetadataMapKeys()
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok, _ := meta.LookupCustomMetadataMap(k); ok {
			if md.Custom == nil {
				md.Custom = map[string]string{}
			}
			md.Custom[k] = v
		}
	}
	return sig, md, nil
}

func checkFile(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s", ErrNoModel, path)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrModel, err)
	case st.IsDir():
		return fmt.Errorf("%w: %s is a folder", ErrModel, path)
	}
	return nil
}

func port(p ort.InputOutputInfo) scoring.Port {
	sp := scoring.Port{Name: p.Name}
	switch p.OrtValueType {
	case ort.ONNXTypeTensor:
		sp.Kind = scoring.KindTensor
		sp.Elem = elemName(p.DataType)
		sp.Shape = append([]int64(nil), p.Dimensions...)
	case ort.ONNXTypeSequence:
		sp.Kind = scoring.KindSequence
	case ort.ONNXTypeMap:
		sp.Kind = scoring.KindMap
	default:
		sp.Kind = strings.ToLower(strings.TrimPrefix(p.OrtValueType.String(), "ONNX_TYPE_"))
	}
	return sp
}

func elemName(t ort.TensorElementDataType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
}
