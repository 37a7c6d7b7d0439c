// Package image builds batchscore's container image without a container
// daemon, with go-containerregistry: a Debian root filesystem (a tar from
// release/rootfs.sh) as the first layer, the release archive's contents
// under /opt/batchscore as the second, written as an OCI image layout and
// as a `docker load` archive, with an SPDX SBOM beside them and inside.
// The same inputs and Created give the same bytes.
package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/batchscore/batchscore/release/notices"
)

// Prefix is where the archive's contents are in the image.
const Prefix = "opt/batchscore"

// User is the image's user: batchscore in the root filesystem's
// /etc/passwd, numeric so that Kubernetes' runAsNonRoot can check it.
const User = "10001:10001"

// Options says what to build from and where to write.
type Options struct {
	Rootfs     string // uncompressed tar of the root filesystem
	Dist       string // batchscore-<version>-linux-amd64.tar.gz
	Version    string
	Revision   string // the commit
	Source     string // the repository's URL
	ORTVersion string
	Created    time.Time // SOURCE_DATE_EPOCH

	Layout  string // folder for the OCI image layout (replaced)
	Archive string // the docker-loadable tar
	SBOM    string // the SPDX JSON file
}

// Build writes the image and returns its manifest digest.
func Build(o Options) (string, error) {
	debs, err := rootfsDebs(o.Rootfs)
	if err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "batchscore-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	appTar := filepath.Join(work, "app.tar")
	bin, err := distBinary(o.Dist)
	if err != nil {
		return "", err
	}
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return "", fmt.Errorf("image: build info of the archive's batchscore: %w", err)
	}
	var mods []notices.Module
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		mods = append(mods, notices.Module{Path: d.Path, Version: d.Version})
	}
	slices.SortFunc(mods, func(a, b notices.Module) int { return strings.Compare(a.Path, b.Path) })
	sbom, err := SBOM{Name: "batchscore-image", Version: o.Version, Revision: o.Revision, Source: o.Source,
		Created: o.Created, GoVersion: info.GoVersion, Modules: mods, Debs: debs, ORTVersion: o.ORTVersion}.JSON()
	if err != nil {
		return "", err
	}
	if err := appLayer(appTar, o.Dist, sbom, o.Created); err != nil {
		return "", err
	}
	img, err := assemble(o, appTar)
	if err != nil {
		return "", err
	}
	if err := write(o, img); err != nil {
		return "", err
	}
	if err := os.WriteFile(o.SBOM, sbom, 0o644); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func assemble(o Options, appTar string) (v1.Image, error) {
	base, err := tarball.LayerFromFile(o.Rootfs, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: %s: %w", o.Rootfs, err)
	}
	app, err := tarball.LayerFromFile(appTar, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	created := v1.Time{Time: o.Created.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "mmdebstrap --variant=extract (release/rootfs.sh)", Comment: "Debian 12: libc6, libstdc++6, ca-certificates, tzdata"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: created, CreatedBy: "release/cmd/ociimage", Comment: filepath.Base(o.Dist) + " under /" + Prefix}},
	)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", created
	cf.Config = v1.Config{
		Entrypoint: []string{"/" + Prefix + "/batchscore"},
		Cmd:        []string{"--help"},
		User:       User,
		WorkingDir: "/home/batchscore",
		Env:        []string{"PATH=/" + Prefix + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "batchscore",
			"org.opencontainers.image.description": "Batch scoring runner: Parquet/SQL snapshots in, checked, scored with ONNX Runtime or a native tree engine, versioned tables out",
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.revision":    o.Revision,
			"org.opencontainers.image.source":      o.Source,
			"org.opencontainers.image.licenses":    "Apache-2.0",
			"org.opencontainers.image.created":     created.Format(time.RFC3339),
			"org.opencontainers.image.base.name":   "debian:12 (mmdebstrap, see the SBOM)",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

func write(o Options, img v1.Image) error {
	if err := os.RemoveAll(o.Layout); err != nil {
		return err
	}
	p, err := layout.Write(o.Layout, empty.Index)
	if err != nil {
		return fmt.Errorf("image: OCI layout %s: %w", o.Layout, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.Version,
	})); err != nil {
		return fmt.Errorf("image: OCI layout %s: %w", o.Layout, err)
	}
	tag, err := name.NewTag("batchscore:" + o.Version)
	if err != nil {
		return fmt.Errorf("image: tag for version %q: %w", o.Version, err)
	}
	tmp := o.Archive + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return fmt.Errorf("image: %s: %w", o.Archive, err)
	}
	return os.Rename(tmp, o.Archive)
}

// distEntries calls fn for each entry of the release archive, with its
// name below the archive's top folder ("" for the folder itself).
func distEntries(dist string, fn func(h *tar.Header, rel string, r io.Reader) error) error {
	f, err := os.Open(dist)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("image: %s: %w", dist, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("image: %s: %w", dist, err)
		}
		_, rel, _ := strings.Cut(strings.TrimPrefix(h.Name, "./"), "/")
		if err := fn(h, strings.TrimSuffix(rel, "/"), tr); err != nil {
			return err
		}
	}
}

func distBinary(dist string) ([]byte, error) {
	var bin []byte
	err := distEntries(dist, func(h *tar.Header, rel string, r io.Reader) error {
		if rel == "batchscore" && h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(r)
			bin = b
			return err
		}
		return nil
	})
	if err == nil && bin == nil {
		err = fmt.Errorf("image: %s has no batchscore binary at its top", dist)
	}
	return bin, err
}

// appLayer writes the second layer: the archive's entries under Prefix,
// owned by root and read-only to the image's user, and the SBOM.
func appLayer(out, dist string, sbom []byte, created time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	hdr := func(name string, mode int64, typ byte, size int64) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Typeflag: typ, Size: size, ModTime: created, Format: tar.FormatPAX}
	}
	for _, d := range []string{"opt/", Prefix + "/"} {
		if err := tw.WriteHeader(hdr(d, 0o755, tar.TypeDir, 0)); err != nil {
			return err
		}
	}
	err = distEntries(dist, func(h *tar.Header, rel string, r io.Reader) error {
		if rel == "" {
			return nil
		}
		nh := *h
		nh.Name = path.Join(Prefix, rel)
		if h.Typeflag == tar.TypeDir {
			nh.Name += "/"
		}
		nh.Uid, nh.Gid, nh.Uname, nh.Gname = 0, 0, "", ""
		nh.Format = tar.FormatPAX
		nh.PAXRecords = nil
		if err := tw.WriteHeader(&nh); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(hdr(Prefix+"/sbom.spdx.json", 0o644, tar.TypeReg, int64(len(sbom)))); err != nil {
		return err
	}
	if _, err := tw.Write(sbom); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// rootfsDebs reads the packages recorded under var/lib/dpkg/status.d/.
func rootfsDebs(rootfs string) ([]Deb, error) {
	f, err := os.Open(rootfs)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	var debs []Deb
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("image: %s: %w", rootfs, err)
		}
		dir, _ := path.Split(strings.TrimPrefix(h.Name, "./"))
		if dir != "var/lib/dpkg/status.d/" || h.Typeflag != tar.TypeReg {
			continue
		}
		fields := map[string]string{}
		sc := bufio.NewScanner(tr)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(k, " ") {
				fields[k] = v
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("image: %s: %s: %w", rootfs, h.Name, err)
		}
		src, _, _ := strings.Cut(fields["Source"], " ")
		debs = append(debs, Deb{Name: fields["Package"], Version: fields["Version"], Arch: fields["Architecture"], Source: src})
	}
	if len(debs) == 0 {
		return nil, fmt.Errorf("image: %s has no var/lib/dpkg/status.d/ entries: not a root filesystem from release/rootfs.sh", rootfs)
	}
	slices.SortFunc(debs, func(a, b Deb) int { return strings.Compare(a.Name, b.Name) })
	return debs, nil
}
