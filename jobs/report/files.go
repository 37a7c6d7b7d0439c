package report

// The manifest's own types for what other packages describe (Parquet
// files, shard parts, model signatures, non-finite input counts). They are
// converted at the boundary (jobs, jobs/output) so that a change in those
// packages cannot change the manifest's JSON; the golden manifest test
// (testdata/manifest.golden.json) pins it.

// File is a Parquet file written: a version's scores, its quarantine, or
// a side table's.
type File struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// SourceFile is a snapshot file read.
type SourceFile struct {
	Name   string `json:"name"` // relative to the glob's fixed folder
	Size   int64  `json:"size"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256,omitempty"`
	// Partition holds the key=value folders of the file's path, as
	// written; they are columns of its rows.
	Partition map[string]string `json:"partition,omitempty"`
}

// ShardPart is a file's row groups a shard read.
type ShardPart struct {
	File      string `json:"file"` // SourceFile.Name
	RowGroups []int  `json:"row_groups"`
	Rows      int64  `json:"rows"`
}

// Signature is a model's inputs and outputs.
type Signature struct {
	Inputs  []Port `json:"inputs"`
	Outputs []Port `json:"outputs"`
}

// Port is one input or output of a model.
type Port struct {
	Name string `json:"name"`
	Kind string `json:"kind"`                // tensor, sequence or map
	Elem string `json:"elem_type,omitempty"` // tensors only
	// Shape has -1 for a dimension the model leaves free (tensors only).
	Shape []int64 `json:"shape,omitempty"`
}

// NonFinite counts a column's model inputs that were NaN or infinite as
// the model took them.
type NonFinite struct {
	NaN           int64 `json:"nan,omitempty"`
	PosInf        int64 `json:"pos_inf,omitempty"`
	NegInf        int64 `json:"neg_inf,omitempty"`
	BeyondFloat32 int64 `json:"beyond_float32,omitempty"`
}

// ModelMetadata is what a model file says about itself.
type ModelMetadata struct {
	Producer    string            `json:"producer,omitempty"`
	GraphName   string            `json:"graph_name,omitempty"`
	Domain      string            `json:"domain,omitempty"`
	Description string            `json:"description,omitempty"`
	Version     int64             `json:"version"`
	Custom      map[string]string `json:"custom,omitempty"`
}

// Add sums two counts.
func (n NonFinite) Add(o NonFinite) NonFinite {
	return NonFinite{n.NaN + o.NaN, n.PosInf + o.PosInf, n.NegInf + o.NegInf, n.BeyondFloat32 + o.BeyondFloat32}
}
