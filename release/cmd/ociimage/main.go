// Command ociimage builds batchscore's container image from a root
// filesystem tar (release/rootfs.sh) and the release archive (make dist):
//
//	ociimage -rootfs rootfs.tar -dist dist/batchscore-V-linux-amd64.tar.gz \
//	         -version V -revision COMMIT -epoch SOURCE_DATE_EPOCH -out dist
//
// It writes OUT/batchscore-V-oci/ (an OCI image layout),
// OUT/batchscore-V-image.tar (for docker load or podman load),
// OUT/batchscore-V-image.spdx.json and a .sha256 file for the tar.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/batchscore/batchscore/release/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run() error {
	var o image.Options
	flag.StringVar(&o.Rootfs, "rootfs", "", "the root filesystem tar (release/rootfs.sh)")
	flag.StringVar(&o.Dist, "dist", "", "the release archive")
	flag.StringVar(&o.Version, "version", "", "the version")
	flag.StringVar(&o.Revision, "revision", "", "the commit")
	flag.StringVar(&o.Source, "source", "https://github.com/batchscore/batchscore", "the repository's URL")
	flag.StringVar(&o.ORTVersion, "ort-version", "", "the ONNX Runtime version in the archive")
	epoch := flag.Int64("epoch", -1, "SOURCE_DATE_EPOCH: the image's creation time")
	out := flag.String("out", "dist", "the output folder")
	flag.Parse()
	if o.Rootfs == "" || o.Dist == "" || o.Version == "" || o.Revision == "" || o.ORTVersion == "" || *epoch < 0 {
		return fmt.Errorf("-rootfs, -dist, -version, -revision, -ort-version and -epoch are required")
	}
	o.Created = time.Unix(*epoch, 0).UTC()
	base := filepath.Join(*out, "batchscore-"+o.Version)
	o.Layout, o.Archive, o.SBOM = base+"-oci", base+"-image.tar", base+"-image.spdx.json"
	digest, err := image.Build(o)
	if err != nil {
		return err
	}
	sum, err := fileSHA256(o.Archive)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%s  %s\n", sum, filepath.Base(o.Archive))
	if err := os.WriteFile(o.Archive+".sha256", []byte(line), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s\n%s (manifest %s)\n%s%s\n", o.Layout, o.Archive, digest, line, o.SBOM)
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
