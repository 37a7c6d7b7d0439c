// Tests that run what is shipped: the release archive unpacked on a clean
// Debian root filesystem, the image's layers run as the image's user, both
// rebuilt to the same bytes. make test-release builds the archive, the
// image and the root filesystem first and names them in BATCHSCORE_DIST,
// BATCHSCORE_IMAGE and BATCHSCORE_ROOTFS; the chroots need root.
package release

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/batchscore/batchscore/release/image"
)

// need returns the environment variable or stops the test: it fails under
// CI=true, where make test-release sets them all, and skips elsewhere.
func need(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		msg := name + " is not set: run make test-release"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return v
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("chroot needs root")
		}
		t.Skip("chroot needs root")
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// rootfs unpacks the root filesystem tar into a fresh folder with /proc
// mounted (Go's os.Executable reads /proc/self/exe, and batchscore looks
// for ONNX Runtime next to its executable).
func rootfs(t *testing.T) string {
	t.Helper()
	needRoot(t)
	root := t.TempDir()
	run(t, "", "tar", "-xpf", need(t, "BATCHSCORE_ROOTFS"), "--numeric-owner", "-C", root)
	mountProc(t, root)
	return root
}

func mountProc(t *testing.T, root string) {
	t.Helper()
	p := filepath.Join(root, "proc")
	if err := os.MkdirAll(p, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("proc", p, "proc", 0, ""); err != nil {
		t.Fatalf("mount proc in %s: %v", root, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", p, err)
		}
	})
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// inChroot runs argv in root as uid:gid, in dir (inside root), with env
// and nothing else (env -i).
func inChroot(t *testing.T, root string, uid, gid uint32, dir string, env []string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{}, env...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("chroot %s %v: %v", root, argv, err)
	}
	return res
}

// checkVersion checks what `batchscore version` says about a shipped
// binary: the build's version and commit, the ONNX Runtime found next to
// it, the native engines.
func checkVersion(t *testing.T, res result, libDir string) {
	t.Helper()
	want := []string{
		"batchscore " + os.Getenv("VERSION") + "\n",
		"commit " + os.Getenv("COMMIT") + "\n",
		"go go1.",
		"onnxruntime " + os.Getenv("ORT_VERSION") + " (" + libDir + "/libonnxruntime.so)\n",
		"native engines:\n", "trees AVX2 kernel",
	}
	if res.code != 0 {
		t.Fatalf("batchscore version: %s", res)
	}
	for _, w := range want {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("batchscore version does not say %q:\n%s", w, res.stdout)
		}
	}
}

// runExamples runs the archive's example job for both dates, then the
// second date again, which must be already current.
func runExamples(t *testing.T, run func(args ...string) result) {
	t.Helper()
	for _, date := range []string{"2026-11-19", "2026-11-20"} {
		res := run("run", "examples/job.yaml", "--date", date)
		if res.code != 0 || !strings.Contains(res.stdout, "published version") {
			t.Fatalf("run examples/job.yaml --date %s: %s", date, res)
		}
	}
	res := run("run", "examples/job.yaml", "--date", "2026-11-20")
	if res.code != 0 || !strings.Contains(res.stdout, "already current") {
		t.Fatalf("second run of 2026-11-20: %s", res)
	}
}

const uid = 10001 // the batchscore user of the root filesystem

// The archive, unpacked into an empty folder on a clean Debian 12 root
// filesystem (libc6, libstdc++6, ca-certificates, tzdata, nothing else: no
// Go, no gcc, no shell), run as an ordinary user with an empty
// environment: version, then the quick start of the README.
func TestArchiveRunsOnCleanDebian(t *testing.T) {
	dist := need(t, "BATCHSCORE_DIST")
	root := rootfs(t)
	if _, err := os.Stat(filepath.Join(root, "bin/sh")); err == nil {
		t.Fatal("the root filesystem has a shell: it is not the minimal one")
	}
	dir := filepath.Join(root, "srv")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "", "tar", "-xzf", dist, "-C", dir, "--no-same-owner")
	run(t, "", "chown", "-R", strconv.Itoa(uid)+":"+strconv.Itoa(uid), dir)
	top := "/srv/" + strings.TrimSuffix(filepath.Base(dist), ".tar.gz")
	bs := func(args ...string) result {
		return inChroot(t, root, uid, uid, top, nil, append([]string{top + "/batchscore"}, args...)...)
	}
	checkVersion(t, bs("version"), top)
	runExamples(t, bs)
}

// The archive built again from the same commit is the same bytes.
func TestArchiveReproducible(t *testing.T) {
	dist := need(t, "BATCHSCORE_DIST")
	out := t.TempDir()
	cmd := exec.Command("./dist.sh")
	cmd.Env = append(os.Environ(), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dist.sh: %v\n%s", err, b)
	}
	again := filepath.Join(out, filepath.Base(dist))
	if a, b := sha256File(t, dist), sha256File(t, again); a != b {
		t.Errorf("two builds of the archive differ: %s %s, %s %s", a, dist, b, again)
	}
	if sum, err := os.ReadFile(dist + ".sha256"); err != nil || !strings.HasPrefix(string(sum), sha256File(t, dist)+"  "+filepath.Base(dist)+"\n") {
		t.Errorf("%s.sha256 is not the archive's sha256: %q %v", dist, sum, err)
	}
}

func readImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("%s: %d manifests, want 1", dir, len(m.Manifests))
	}
	img, err := p.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// unpackLayers extracts the image's layers in order into root, as a
// runtime would; the image has no whiteouts, so one is an error here.
func unpackLayers(t *testing.T, img v1.Image, root string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		tr := tar.NewReader(io.TeeReader(rc, &buf))
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %d: %v", i, err)
			}
			if strings.Contains(filepath.Base(h.Name), ".wh.") {
				t.Fatalf("layer %d has a whiteout %s", i, h.Name)
			}
		}
		rc.Close()
		cmd := exec.Command("tar", "-xpf", "-", "--numeric-owner", "-C", root)
		cmd.Stdin = &buf
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("layer %d: tar: %v\n%s", i, err, b)
		}
	}
}

var reUser = regexp.MustCompile(`^(\d+):(\d+)$`)

// The image's layers unpacked in order and run as the image says: its
// user, working folder, environment and entrypoint. The examples are
// copied to the user's home, as a volume would hold them.
func TestImageRunsAsItsUser(t *testing.T) {
	needRoot(t)
	img := readImage(t, need(t, "BATCHSCORE_IMAGE"))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	m := reUser.FindStringSubmatch(c.User)
	if m == nil || m[1] == "0" {
		t.Fatalf("the image's user %q is not a numeric non-root uid:gid", c.User)
	}
	if want := []string{"/opt/batchscore/batchscore"}; !slicesEqual(c.Entrypoint, want) {
		t.Errorf("entrypoint %q, want %q", c.Entrypoint, want)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  os.Getenv("VERSION"),
		"org.opencontainers.image.revision": os.Getenv("COMMIT"),
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.source":   "https://github.com/batchscore/batchscore",
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	root := t.TempDir()
	unpackLayers(t, img, root)
	mountProc(t, root)
	u, _ := strconv.Atoi(m[1])
	g, _ := strconv.Atoi(m[2])
	home := filepath.Join(root, c.WorkingDir)
	run(t, "", "cp", "-r", filepath.Join(root, "opt/batchscore/examples"), home)
	run(t, "", "chown", "-R", m[1]+":"+m[2], filepath.Join(home, "examples"))
	bs := func(args ...string) result {
		return inChroot(t, root, uint32(u), uint32(g), c.WorkingDir, c.Env, append(append([]string{}, c.Entrypoint...), args...)...)
	}
	checkVersion(t, bs("version"), "/opt/batchscore")
	runExamples(t, bs)
	// The user cannot change what the image ships.
	if res := inChroot(t, root, uint32(u), uint32(g), "/opt/batchscore", c.Env, append(append([]string{}, c.Entrypoint...), "run", "examples/job.yaml", "--date", "2026-11-19")...); res.code == 0 {
		t.Errorf("the image's user wrote under /opt/batchscore: %s", res)
	}
}

// The image's SBOM names the Go modules the binary links and the Debian
// packages of the root filesystem, and is in the image too.
func TestImageSBOM(t *testing.T) {
	dir := need(t, "BATCHSCORE_IMAGE")
	b, err := os.ReadFile(strings.TrimSuffix(dir, "-oci") + "-image.spdx.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name         string `json:"name"`
			Version      string `json:"versionInfo"`
			ExternalRefs []struct {
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	purls := map[string]bool{}
	for _, p := range doc.Packages {
		for _, r := range p.ExternalRefs {
			purls[strings.SplitN(r.Locator, "@", 2)[0]] = true
		}
	}
	for _, want := range []string{"pkg:deb/debian/libc6", "pkg:deb/debian/libstdc++6", "pkg:deb/debian/ca-certificates", "pkg:deb/debian/tzdata",
		"pkg:golang/github.com/yalue/onnxruntime_go", "pkg:golang/github.com/apache/arrow/go/v17", "pkg:npm/onnxruntime-node", "pkg:golang/stdlib"} {
		if !purls[want] {
			t.Errorf("the SBOM has no %s", want)
		}
	}
	if doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion %q", doc.SPDXVersion)
	}
	root := t.TempDir()
	unpackLayers(t, readImage(t, dir), root)
	if in, err := os.ReadFile(filepath.Join(root, "opt/batchscore/sbom.spdx.json")); err != nil || !bytes.Equal(in, b) {
		t.Errorf("the image's /opt/batchscore/sbom.spdx.json is not the SBOM beside it (%v)", err)
	}
}

// The image built again from the same archive and root filesystem is the
// same bytes: the docker archive, the layout's manifest and blobs.
func TestImageReproducible(t *testing.T) {
	dir := need(t, "BATCHSCORE_IMAGE")
	dist := need(t, "BATCHSCORE_DIST")
	out := t.TempDir()
	epoch, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	o := image.Options{Rootfs: need(t, "BATCHSCORE_ROOTFS"), Dist: dist, Version: os.Getenv("VERSION"), Revision: os.Getenv("COMMIT"),
		Source: "https://github.com/batchscore/batchscore", ORTVersion: os.Getenv("ORT_VERSION")}
	o.Created = unixTime(epoch)
	o.Layout, o.Archive, o.SBOM = filepath.Join(out, "oci"), filepath.Join(out, "image.tar"), filepath.Join(out, "sbom.json")
	if _, err := image.Build(o); err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(dir, "-oci")
	for a, b := range map[string]string{base + "-image.tar": o.Archive, base + "-image.spdx.json": o.SBOM, dir + "/index.json": o.Layout + "/index.json"} {
		if x, y := sha256File(t, a), sha256File(t, b); x != y {
			t.Errorf("two builds differ: %s %s, %s %s", x, a, y, b)
		}
	}
	if sum, err := os.ReadFile(base + "-image.tar.sha256"); err != nil || !strings.HasPrefix(string(sum), sha256File(t, base+"-image.tar")+"  ") {
		t.Errorf("the image tar's .sha256 is not its sha256: %q %v", sum, err)
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

func unixTime(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// The docker-loadable tar loads into Podman (Debian's) with the image's
// entrypoint, user and labels. Podman then runs it where it can: on the
// machines this project builds on, crun's setrlimit is refused, so there
// the run is reported and the chroot test above stands in for it.
func TestImageLoadsInPodman(t *testing.T) {
	dir := need(t, "BATCHSCORE_IMAGE")
	podman, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("podman is missing (.ci/run installs it)")
		}
		t.Skip("podman is missing")
	}
	store := t.TempDir()
	pm := func(args ...string) (string, error) {
		cmd := exec.Command(podman, append([]string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run")}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { pm("system", "reset", "--force") })
	archive := strings.TrimSuffix(dir, "-oci") + "-image.tar"
	if out, err := pm("load", "-i", archive); err != nil {
		t.Fatalf("podman load %s: %v\n%s", archive, err, out)
	}
	ref := "localhost/batchscore:" + os.Getenv("VERSION")
	out, err := pm("image", "inspect", ref, "--format", `{{json .Config.Entrypoint}} {{.Config.User}} {{index .Config.Labels "org.opencontainers.image.revision"}}`)
	if err != nil {
		t.Fatalf("podman image inspect: %v\n%s", err, out)
	}
	if want := `["/opt/batchscore/batchscore"] ` + image.User + " " + os.Getenv("COMMIT") + "\n"; out != want {
		t.Errorf("podman sees %q, want %q", out, want)
	}
	out, err = pm("run", "--rm", "--network=none", ref, "version")
	switch {
	case err == nil:
		if !strings.Contains(out, "batchscore "+os.Getenv("VERSION")+"\n") || !strings.Contains(out, "onnxruntime "+os.Getenv("ORT_VERSION")+" (/opt/batchscore/libonnxruntime.so)") {
			t.Errorf("podman run %s version:\n%s", ref, out)
		}
	case strings.Contains(out, "setrlimit") || strings.Contains(out, "OCI permission denied"):
		t.Logf("podman cannot run containers on this machine: %s", strings.TrimSpace(out))
	default:
		t.Errorf("podman run %s version: %v\n%s", ref, err, out)
	}
}
