package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/batchscore/batchscore/scoring/onnx"
)

// ortLibNames are looked for next to the binary, in this order.
var ortLibNames = []string{"libonnxruntime.so", "libonnxruntime.so.1", "libonnxruntime.so." + onnx.WantVersion}

// resolveORTLib picks the ONNX Runtime library: the flag, then
// BATCHSCORE_ORT_LIB, then a copy next to the executable.
func resolveORTLib(flag string) (string, error) {
	if flag != "" {
		return checkORTLib(flag, "--ort-lib ")
	}
	if env := os.Getenv("BATCHSCORE_ORT_LIB"); env != "" {
		return checkORTLib(env, "BATCHSCORE_ORT_LIB=")
	}
	exe, err := os.Executable()
	if err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		for _, name := range ortLibNames {
			p := filepath.Join(filepath.Dir(exe), name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no ONNX Runtime %s library found: pass --ort-lib, set BATCHSCORE_ORT_LIB, or put libonnxruntime.so next to the batchscore binary ('make ort' fetches it)",
		onnx.ErrRuntime, onnx.WantVersion)
}

// checkORTLib says where a library path that does not exist came from.
func checkORTLib(path, from string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%w: %s%s: %v", onnx.ErrRuntime, from, path, err)
	}
	return path, nil
}
