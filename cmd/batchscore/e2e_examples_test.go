package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/batchscore/batchscore/jobs/spec"
)

// ---------------------------------------------------------------------------
// Kubernetes manifests, as much of them as the examples use

type k8sVolume struct {
	Name                  string `yaml:"name"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
	} `yaml:"secret"`
	EmptyDir any `yaml:"emptyDir"`
}

type k8sMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type k8sContainer struct {
	Name         string     `yaml:"name"`
	Image        string     `yaml:"image"`
	Command      []string   `yaml:"command"`
	Args         []string   `yaml:"args"`
	VolumeMounts []k8sMount `yaml:"volumeMounts"`
	Env          []struct {
		Name string `yaml:"name"`
	} `yaml:"env"`
}

type k8sJobSpec struct {
	CompletionMode       string `yaml:"completionMode"`
	Completions          int    `yaml:"completions"`
	BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
	Template             struct {
		Spec struct {
			Containers []k8sContainer `yaml:"containers"`
			Volumes    []k8sVolume    `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type k8sDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"` // ConfigMap
	Spec struct {
		k8sJobSpec  `yaml:",inline"` // Job
		JobTemplate struct {
			Spec k8sJobSpec `yaml:"spec"`
		} `yaml:"jobTemplate"` // CronJob
	} `yaml:"spec"`
}

// k8sExample is one manifest file of configs/examples.
type k8sExample struct {
	file       string
	docs       []k8sDoc
	configMaps map[string]map[string]string
	claims     map[string]bool
}

func readK8sExample(t *testing.T, name string) *k8sExample {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "configs", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ex := &k8sExample{file: name, configMaps: map[string]map[string]string{}, claims: map[string]bool{}}
	dec := yaml.NewDecoder(f)
	for {
		var d k8sDoc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch d.Kind {
		case "ConfigMap":
			ex.configMaps[d.Metadata.Name] = d.Data
		case "PersistentVolumeClaim":
			ex.claims[d.Metadata.Name] = true
		}
		ex.docs = append(ex.docs, d)
	}
	return ex
}

// jobs are the file's Jobs and CronJobs' job templates.
func (ex *k8sExample) jobs() []k8sJobSpec {
	var out []k8sJobSpec
	for _, d := range ex.docs {
		switch d.Kind {
		case "Job":
			out = append(out, d.Spec.k8sJobSpec)
		case "CronJob":
			out = append(out, d.Spec.JobTemplate.Spec)
		}
	}
	return out
}

// mount is where a path is in a container: the mount holding it and its
// volume; nil when no mount holds it.
func mountOf(j k8sJobSpec, c k8sContainer, path string) (*k8sMount, *k8sVolume) {
	for i, m := range c.VolumeMounts {
		if path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			for k, v := range j.Template.Spec.Volumes {
				if v.Name == m.Name {
					return &c.VolumeMounts[i], &j.Template.Spec.Volumes[k]
				}
			}
			return &c.VolumeMounts[i], nil
		}
	}
	return nil, nil
}

// jobFileArg is the container's job file argument and the ConfigMap entry
// that holds it, checked: it must be mounted from a ConfigMap of the file.
func (ex *k8sExample) jobFileArg(j k8sJobSpec, c k8sContainer) (path, text string, err error) {
	for _, a := range c.Args {
		if !strings.HasSuffix(a, ".yaml") {
			continue
		}
		m, v := mountOf(j, c, a)
		if m == nil || v == nil || v.ConfigMap == nil {
			return a, "", fmt.Errorf("the job file %s is not on a ConfigMap mount", a)
		}
		key := strings.TrimPrefix(a, strings.TrimSuffix(m.MountPath, "/")+"/")
		data, ok := ex.configMaps[v.ConfigMap.Name][key]
		if !ok {
			return a, "", fmt.Errorf("the job file %s: ConfigMap %s in this file has no key %s", a, v.ConfigMap.Name, key)
		}
		return a, data, nil
	}
	return "", "", errors.New("no job file (*.yaml) in the container's args")
}

// ---------------------------------------------------------------------------
// What a job file writes and reads

// jobPaths lists the paths a loaded job writes and reads, by key.
func jobPaths(job *spec.Job) (writes, reads map[string]string) {
	writes = map[string]string{"output.table": job.Output.Table}
	reads = map[string]string{}
	add := func(key, p string) {
		if p != "" {
			reads[key] = p
		}
	}
	if job.Source.SQL == nil {
		add("source.parquet", job.Source.Parquet)
	}
	add("model.path", job.Model.Path)
	add("model.registry", job.Model.Registry)
	add("validation.baseline", job.Validation.Baseline)
	if c := job.Challenger; c != nil {
		add("challenger.path", c.Path)
		add("challenger.registry", c.Registry)
	}
	if f := job.Fallback; f != nil && f.Model != nil {
		add("fallback.model.path", f.Model.Path)
		add("fallback.model.registry", f.Model.Registry)
	}
	return writes, reads
}

// flagValue is the value of --name in args, "" if absent.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func isObjectStore(p string) bool { return strings.HasPrefix(p, "s3://") }

// loadCopy loads a job file's text from a fresh folder, so that a path
// relative to the job file shows up as one inside that folder.
func loadCopy(t *testing.T, name, text string) (*spec.Job, string, error) {
	dir := t.TempDir()
	path := filepath.Join(dir, filepath.Base(name))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	job, err := spec.Load(path)
	return job, dir, err
}

// checkK8sExample loads the job file of every container from its ConfigMap
// and checks that every path it writes is on a PersistentVolumeClaim mount
// (not emptyDir, not the container's file system) or on S3, that every
// path it reads is on a mount or on S3, and that the pod sets no DSN
// variable the job does not name.
func checkK8sExample(t *testing.T, ex *k8sExample) (loaded int) {
	for _, j := range ex.jobs() {
		for _, c := range j.Template.Spec.Containers {
			where := ex.file + ": container " + c.Name
			checkImage(t, where, c.Image, len(c.Command) > 0)
			arg, text, err := ex.jobFileArg(j, c)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			job, dir, err := loadCopy(t, arg, text)
			if err != nil {
				t.Errorf("%s: the job file %s does not load: %v", where, arg, err)
				continue
			}
			loaded++
			writes, reads := jobPaths(job)
			if mf := flagValue(c.Args, "--metrics-file"); mf != "" {
				writes["--metrics-file"] = mf
			}
			for key, p := range writes {
				if isObjectStore(p) {
					continue
				}
				m, v := mountOf(j, c, p)
				switch {
				case strings.HasPrefix(p, filepath.Dir(dir)+"/"):
					t.Errorf("%s: %s is relative to the job file: in the pod it lands in the container's own file system and vanishes with it", where, key)
				case m == nil || v == nil:
					t.Errorf("%s: %s %s is in the container's own file system: it vanishes with the pod", where, key, p)
				case v.PersistentVolumeClaim == nil:
					t.Errorf("%s: %s %s is on volume %s, which is not a PersistentVolumeClaim", where, key, p, v.Name)
				case !ex.claims[v.PersistentVolumeClaim.ClaimName]:
					t.Errorf("%s: %s %s: the claim %s is not declared in the file", where, key, p, v.PersistentVolumeClaim.ClaimName)
				case m.ReadOnly:
					t.Errorf("%s: %s %s is on a read-only mount", where, key, p)
				}
			}
			for key, p := range reads {
				if m, v := mountOf(j, c, p); !isObjectStore(p) && (m == nil || v == nil) {
					t.Errorf("%s: %s %s is on no mounted volume", where, key, p)
				}
			}
			for _, e := range c.Env {
				if !jobUsesEnv(job, writes, reads, e.Name) {
					t.Errorf("%s: sets %s, which the job does not use", where, e.Name)
				}
			}
		}
	}
	return loaded
}

// reImage is the image make image builds, in some registry.
var reImage = regexp.MustCompile(`^([a-z0-9.-]+(:[0-9]+)?/)?([a-z0-9._-]+/)*batchscore:[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// checkImage: a container runs the image make image builds, whose
// entrypoint is batchscore and which has no shell, so it sets no command.
func checkImage(t *testing.T, where, image string, command bool) {
	t.Helper()
	if !reImage.MatchString(image) {
		t.Errorf("%s: image %q is not batchscore's (make image), tagged", where, image)
	}
	if command {
		t.Errorf("%s: sets a command: the image's entrypoint is batchscore and it has no shell; pass args", where)
	}
}

// jobUsesEnv says whether a pod's variable is one the job needs: a DSN it
// names, or AWS_* credentials and settings when it reads or writes s3://.
func jobUsesEnv(job *spec.Job, writes, reads map[string]string, env string) bool {
	if namesDSN(job, env) {
		return true
	}
	if strings.HasPrefix(env, "AWS_") {
		for _, p := range writes {
			if isObjectStore(p) {
				return true
			}
		}
		for _, p := range reads {
			if isObjectStore(p) {
				return true
			}
		}
	}
	return false
}

func namesDSN(job *spec.Job, env string) bool {
	return (job.Source.SQL != nil && job.Source.SQL.DSNEnv == env) || (job.Output.SQL != nil && job.Output.SQL.DSNEnv == env)
}

// ephemeral are host folders that do not outlive a reboot or a cleaner.
var ephemeral = []string{"/tmp/", "/var/tmp/", "/run/", "/dev/shm/", os.TempDir() + "/"}

// checkHostJob loads the job file an example installs on a host (by its
// name in configs/examples) and checks where it writes: onlyObjectStore
// for machines that share nothing (Airflow workers), else absolute paths
// on persistent disk, not relative to where the job file is installed.
func checkHostJob(t *testing.T, example, installed string, onlyObjectStore bool, extraWrites map[string]string) {
	name := filepath.Base(installed)
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "examples", name))
	if err != nil {
		t.Errorf("%s runs %s: no %s in configs/examples", example, installed, name)
		return
	}
	job, dir, err := loadCopy(t, name, string(text))
	if err != nil {
		t.Errorf("%s: %s does not load: %v", example, name, err)
		return
	}
	writes, reads := jobPaths(job)
	for k, v := range extraWrites {
		writes[k] = v
	}
	for key, p := range writes {
		switch {
		case isObjectStore(p):
		case onlyObjectStore:
			t.Errorf("%s: %s: %s %s is on the worker's disk; tasks run on any worker: use s3://", example, name, key, p)
		case strings.HasPrefix(p, dir+"/"):
			t.Errorf("%s: %s: %s is relative to the job file; write an absolute path", example, name, key)
		case slices.ContainsFunc(ephemeral, func(e string) bool { return strings.HasPrefix(p, e) }):
			t.Errorf("%s: %s: %s %s is in a temporary folder", example, name, key, p)
		}
	}
	for key, p := range reads {
		if strings.HasPrefix(p, dir+"/") {
			t.Errorf("%s: %s: %s is relative to the job file; write an absolute path", example, name, key)
		}
	}
}

var (
	reAirflowJob   = regexp.MustCompile(`(?m)^JOB = "([^"]+)"`)
	reAirflowImage = regexp.MustCompile(`(?m)^IMAGE = "([^"]+)"`)
	reAirflowBin   = regexp.MustCompile(`(?m)^BATCHSCORE = "([^"]+)"|"(/[^"]*/batchscore)"`)
	reKPOMount     = regexp.MustCompile(`V1VolumeMount\(name="([^"]+)", mount_path="([^"]+)"`)
	reKPOConfigMap = regexp.MustCompile(`V1Volume\(name="([^"]+)", config_map=`)
	reCronRun      = regexp.MustCompile(`\brun\s+(\S+\.yaml)`)
)

// checkKPODag checks an Airflow DAG that runs the image with the
// KubernetesPodOperator: the image is batchscore's, no cmds (no shell),
// the job file JOB is on a ConfigMap mount, and the job file it is made
// from (by name, in configs/examples) writes only to S3 and reads from S3
// or the pod's mounts.
func checkKPODag(t *testing.T, name string, data []byte, job string) {
	m := reAirflowImage.FindSubmatch(data)
	if m == nil {
		t.Errorf("%s: no IMAGE = \"...\" line", name)
		return
	}
	checkImage(t, name, string(m[1]), bytes.Contains(data, []byte("cmds=")))
	configMaps := map[string]bool{}
	for _, m := range reKPOConfigMap.FindAllSubmatch(data, -1) {
		configMaps[string(m[1])] = true
	}
	var mounts []string
	onConfigMap := false
	for _, m := range reKPOMount.FindAllSubmatch(data, -1) {
		mp := strings.TrimSuffix(string(m[2]), "/") + "/"
		mounts = append(mounts, mp)
		if configMaps[string(m[1])] && strings.HasPrefix(job, mp) {
			onConfigMap = true
		}
	}
	if !onConfigMap {
		t.Errorf("%s: the job file %s is not on a ConfigMap mount", name, job)
	}
	checkHostJob(t, name, job, true, nil)
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "examples", filepath.Base(job)))
	if err != nil {
		return
	}
	j, _, err := loadCopy(t, filepath.Base(job), string(text))
	if err != nil {
		return
	}
	_, reads := jobPaths(j)
	for key, p := range reads {
		if !isObjectStore(p) && !slices.ContainsFunc(mounts, func(mp string) bool { return strings.HasPrefix(p, mp) }) {
			t.Errorf("%s: %s %s is on no volume the pod mounts", name, key, p)
		}
	}
}

// Every example in configs/examples loads its job file and writes only to
// a persistent volume or an object store: the Kubernetes manifests' job
// files come from a mounted ConfigMap and write to a PersistentVolumeClaim
// or S3; the crontab's and the Airflow DAGs' job files are in the folder.
// A new example must be one of these kinds, so it cannot be left out.
func TestI18DaemonExamplesWritePersistently(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "configs", "examples")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	referenced := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, ".yaml") && bytes.Contains(data, []byte("\napiVersion:")):
			if n := checkK8sExample(t, readK8sExample(t, name)); n == 0 {
				t.Errorf("%s: no container runs a job file", name)
			}
		case strings.HasSuffix(name, ".yaml"):
			if _, _, err := loadCopy(t, name, string(data)); err != nil {
				t.Errorf("%s does not load: %v", name, err)
			}
		case strings.HasSuffix(name, ".py"):
			m := reAirflowJob.FindSubmatch(data)
			if m == nil {
				t.Errorf("%s: no JOB = \"...\" line", name)
				continue
			}
			referenced[filepath.Base(string(m[1]))] = true
			if bytes.Contains(data, []byte("KubernetesPodOperator(")) {
				checkKPODag(t, name, data, string(m[1]))
				continue
			}
			// On a host: the binary of the archive, unpacked at /opt/batchscore.
			if b := reAirflowBin.FindSubmatch(data); b == nil || !strings.HasPrefix(string(b[1])+string(b[2]), "/opt/batchscore/") {
				t.Errorf("%s: runs no /opt/batchscore/batchscore (the archive, README: Install)", name)
			}
			checkHostJob(t, name, string(m[1]), true, nil)
		case name == "crontab":
			n := 0
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "#") {
					continue
				}
				if m := reCronRun.FindStringSubmatch(line); m != nil {
					n++
					referenced[filepath.Base(m[1])] = true
					extra := map[string]string{}
					if mf := flagValue(strings.Fields(line), "--metrics-file"); mf != "" {
						extra["--metrics-file"] = mf
					}
					checkHostJob(t, name, m[1], false, extra)
				}
			}
			if n == 0 {
				t.Errorf("crontab: no line runs a job file")
			}
		default:
			t.Errorf("%s: an example this test does not know how to check", name)
		}
	}
	for _, e := range entries {
		name := e.Name()
		data, _ := os.ReadFile(filepath.Join(dir, name))
		if strings.HasSuffix(name, ".yaml") && !bytes.Contains(data, []byte("\napiVersion:")) && !referenced[name] {
			t.Errorf("%s: no example runs it", name)
		}
	}
}

// ---------------------------------------------------------------------------
// Running the Kubernetes examples as written

// podRoot mounts a container's volumes under a temporary root: ConfigMaps
// are written out, claims are empty folders. host maps a container path
// to the test's.
func podRoot(t *testing.T, ex *k8sExample, j k8sJobSpec, c k8sContainer) (host func(string) string) {
	t.Helper()
	root := t.TempDir()
	host = func(p string) string {
		for _, m := range c.VolumeMounts {
			if p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
				return filepath.Join(root, p)
			}
		}
		return p
	}
	for _, m := range c.VolumeMounts {
		must(t, os.MkdirAll(filepath.Join(root, m.MountPath), 0o755))
	}
	for _, m := range c.VolumeMounts {
		_, v := mountOf(j, c, m.MountPath)
		if v == nil || v.ConfigMap == nil {
			continue
		}
		for key, text := range ex.configMaps[v.ConfigMap.Name] {
			// The job file's paths are the container's: point them at the
			// test's mounts.
			for _, mm := range c.VolumeMounts {
				text = strings.ReplaceAll(text, " "+mm.MountPath+"/", " "+filepath.Join(root, mm.MountPath)+"/")
				text = strings.ReplaceAll(text, `"`+mm.MountPath+"/", `"`+filepath.Join(root, mm.MountPath)+"/")
			}
			must(t, os.WriteFile(filepath.Join(root, m.MountPath, key), []byte(text), 0o644))
		}
	}
	return host
}

// stockVolume puts what the job reads where its (mapped) job file says:
// the snapshot files of date20 from snapshotDir, the model and the
// baseline from the repository.
func stockVolume(t *testing.T, job *spec.Job, snapshotDir string) {
	t.Helper()
	snap := filepath.Dir(strings.ReplaceAll(job.Source.Parquet, "{{ .Date }}", date20))
	copyDir(t, snapshotDir, snap)
	for dst, src := range map[string]string{
		job.Model.Path:          modelPath(t, filepath.Base(job.Model.Path)),
		job.Validation.Baseline: filepath.Join(repoRoot(t), "testdata", "baseline", filepath.Base(job.Validation.Baseline)),
	} {
		must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		must(t, os.WriteFile(dst, mustRead(t, src), 0o644))
	}
}

// The CronJob as written: its job file from the ConfigMap, its data on the
// claim (the test's folder), its args (plus --date, the test data's day).
// A second pod for the same date finds it already current: the table
// outlives the pod.
func TestI18DaemonKubernetesCronJobRuns(t *testing.T) {
	ex := readK8sExample(t, "kubernetes_cronjob.yaml")
	jobs := ex.jobs()
	if len(jobs) != 1 || len(jobs[0].Template.Spec.Containers) != 1 {
		t.Fatalf("want one CronJob with one container, got %d", len(jobs))
	}
	j, c := jobs[0], jobs[0].Template.Spec.Containers[0]
	host := podRoot(t, ex, j, c)
	var pushes atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			pushes.Add(1)
		}
	}))
	defer gw.Close()
	var args []string
	for i, a := range c.Args {
		if i > 0 && c.Args[i-1] == "--pushgateway" {
			a = gw.URL
		}
		args = append(args, host(a))
	}
	args = append(args, "--date", date20)
	arg, _, _ := ex.jobFileArg(j, c)
	job, err := spec.Load(host(arg))
	if err != nil {
		t.Fatal(err)
	}
	stockVolume(t, job, filepath.Join(samples(t), "snapshot_date="+date20))

	if res := bs(t, args...); res.code != 0 || !strings.Contains(res.stdout, "published version") {
		t.Fatalf("first pod: %s", res)
	}
	res := bs(t, args...)
	if res.code != 0 || !strings.Contains(res.stdout, "already current") {
		t.Fatalf("second pod for the same date: %s", res)
	}
	if pushes.Load() != 2 {
		t.Errorf("%d pushes to the Pushgateway, want 2", pushes.Load())
	}
}

// The Kubernetes sharded example's two Jobs, run as they are written (the
// job file from its ConfigMap, the claim a folder, the snapshot made
// bigger to split): one process per completion index with
// $(JOB_COMPLETION_INDEX) expanded as Kubernetes does, then the commit
// Job's args. What the README shows works.
func TestKubernetesShardedExample(t *testing.T) {
	ex := readK8sExample(t, "kubernetes_sharded.yaml")
	jobs := ex.jobs()
	if len(jobs) != 2 || jobs[0].CompletionMode != "Indexed" || jobs[0].BackoffLimitPerIndex == nil {
		t.Fatalf("want an Indexed Job with backoffLimitPerIndex, then a commit Job; got %+v", jobs)
	}
	c := jobs[0].Template.Spec.Containers[0]
	host := podRoot(t, ex, jobs[0], c)
	arg, _, err := ex.jobFileArg(jobs[0], c)
	if err != nil {
		t.Fatal(err)
	}
	job, err := spec.Load(host(arg))
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Dir(filepath.Dir(shardSnapshot(t)))
	stockVolume(t, job, filepath.Join(snap, "snapshot_date="+date20))
	argsOf := func(j k8sJobSpec, index string) []string {
		var out []string
		for _, a := range j.Template.Spec.Containers[0].Args {
			if len(a) == len("2006-01-02") && a[4] == '-' && a[7] == '-' {
				a = date20
			}
			out = append(out, strings.ReplaceAll(host(a), "$(JOB_COMPLETION_INDEX)", index))
		}
		return out
	}
	for i := range jobs[0].Completions {
		index := strconv.Itoa(i)
		if res := bs(t, argsOf(jobs[0], index)...); res.code != 0 {
			t.Fatalf("completion index %s: %s", index, res)
		}
	}
	res := bs(t, argsOf(jobs[1], "")...)
	if res.code != 0 || !strings.Contains(res.stdout, "published version") {
		t.Fatalf("commit Job: %s", res)
	}
	if m := onlyCommit(t, job.Output.Table); m.Counts.Written != shardRows || len(m.Shards) != jobs[0].Completions {
		t.Errorf("committed %d rows from %d shards", m.Counts.Written, len(m.Shards))
	}
}
