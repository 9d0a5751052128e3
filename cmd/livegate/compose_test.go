package main

import (
	"bytes"
	"context"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	compose "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/livegate/livegate/internal/testenv"
)

// TestDockerCompose checks docker-compose.yml without a Docker engine (there is none where
// the tests run): Docker Compose's own loader reads it, with every profile, and what it
// tells the livegate image to do is checked against this livegate:
//   - the file is valid Compose (the specification's schema, interpolation, the services
//     that depends_on names, the YAML anchors and merges);
//   - every LIVEGATE_ variable a service sets is one `livegate serve` reads (a renamed flag
//     would otherwise be ignored in silence), and the ports it publishes are ones it listens on;
//   - the healthcheck runs `/livegate health`, the image's binary (Dockerfile) and command;
//   - the nginx-conf one-shot's command runs, here, with its volumes as temporary
//     directories and the livegate service's name as loopback, and nginx (with the RTMP
//     module, as the nginx-rtmp image installs it) accepts the configuration it writes.
func TestDockerCompose(t *testing.T) {
	opts, err := compose.NewProjectOptions([]string{filepath.Join("..", "..", "docker-compose.yml")},
		compose.WithName("livegate"), compose.WithProfiles([]string{"*"}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	want := []string{"livegate", "livegate-a", "livegate-b", "nginx-conf", "nginx-conf-pg", "nginx-rtmp", "nginx-rtmp-pg", "postgres"}
	if got := slices.Sorted(maps.Keys(project.Services)); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}

	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`ENTRYPOINT ["/livegate"]`, `CMD ["serve"]`} {
		if !bytes.Contains(dockerfile, []byte("\n"+line+"\n")) {
			t.Fatalf("Dockerfile has no line %s: the checks below assume the image runs /livegate serve", line)
		}
	}

	serveEnv := envNames(t, "serve")
	for _, name := range []string{"livegate", "livegate-a", "livegate-b"} {
		s := project.Services[name]
		if s.Build == nil || s.Build.Context != project.WorkingDir || len(s.Command) != 0 {
			t.Errorf("%s: build %+v, command %v; want this repository's image and its CMD (serve)", name, s.Build, s.Command)
		}
		listens := map[uint32]bool{}
		for key, v := range s.Environment {
			if !strings.HasPrefix(key, "LIVEGATE_") {
				continue
			}
			if !serveEnv[key] {
				t.Errorf("%s sets %s, which livegate serve does not read", name, key)
			}
			if v != nil && strings.HasSuffix(key, "_ADDR") {
				_, port, err := net.SplitHostPort(*v)
				if err != nil {
					t.Errorf("%s: %s=%q: %v", name, key, *v, err)
					continue
				}
				n, _ := strconv.ParseUint(port, 10, 16)
				listens[uint32(n)] = true
			}
		}
		if len(s.Ports) == 0 {
			t.Errorf("%s publishes no port", name)
		}
		for _, p := range s.Ports {
			if !listens[p.Target] {
				t.Errorf("%s publishes port %d, where livegate does not listen (its addresses: %v)", name, p.Target, s.Environment)
			}
		}
		if s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test, types.HealthCheckTest{"CMD", "/livegate", "health"}) {
			var test types.HealthCheckTest
			if s.HealthCheck != nil {
				test = s.HealthCheck.Test
			}
			t.Errorf("%s: healthcheck %q, want [CMD /livegate health]", name, test)
		}
	}
	healthEnv := envNames(t, "health")
	for key := range project.Services["livegate"].Environment {
		if strings.HasSuffix(key, "ADMIN_ADDR") && !healthEnv[key] {
			t.Errorf("the healthcheck's livegate health does not read %s, where serve's admin listener is", key)
		}
	}

	// Each RTMP ingest: the one-shot that writes an nginx.conf, and the nginx that reads it.
	for _, pair := range []struct{ conf, nginx string }{{"nginx-conf", "nginx-rtmp"}, {"nginx-conf-pg", "nginx-rtmp-pg"}} {
		t.Run(pair.conf, func(t *testing.T) { checkNginxPair(t, project, pair.conf, pair.nginx) })
	}
}

// checkNginxPair runs the one-shot conf as compose runs it (its volumes as temporary
// directories, its database a real PostgreSQL, the livegate service it calls back as
// loopback), has nginx check what it writes, and checks every livegate service that hands
// out this nginx's addresses (--ingest-base, --playback-base) against it: those addresses are
// the ones nginx publishes, and the service keeps its stream keys in the store the one-shot
// read the callback secret from and the callbacks go to (a node of another store would give
// out stream keys nginx's callbacks refuse).
func checkNginxPair(t *testing.T, project *types.Project, confName, nginxName string) {
	conf, ok := project.Services[confName]
	if !ok {
		t.Fatalf("no service %s", confName)
	}
	mounts := map[string]string{}   // the one-shot's mount point -> a directory here
	volumeAt := map[string]string{} // the one-shot's mount point -> the volume's name
	for _, v := range conf.Volumes {
		dir := filepath.Join(t.TempDir(), v.Source) // a mounted volume is a directory there
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		mounts[v.Target], volumeAt[v.Target] = dir, v.Source
	}
	confEnv := envNames(t, "rtmp", "nginx-conf")
	var confStore string
	for key, v := range conf.Environment {
		if !confEnv[key] {
			t.Errorf("%s sets %s, which livegate rtmp nginx-conf does not read", confName, key)
			continue
		}
		if key == "LIVEGATE_DATABASE_URL" && v != nil {
			confStore = "database " + *v
			t.Setenv(key, testenv.StartPostgres(t)) // as compose's postgres service
		}
	}
	// nginx resolves the callbacks' host when it loads the configuration; the compose
	// network's name for that livegate service (nginx starts once it is healthy) is
	// loopback here.
	args := slices.Clone([]string(conf.Command))
	var callbacks *url.URL
	flags := map[string]string{}
	for i, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok {
			continue
		}
		flags[name] = value
		if name == "--livegate-url" {
			u, err := url.Parse(value)
			if err != nil {
				t.Fatalf("%s: %s: %v", confName, a, err)
			}
			callbacks = u
			args[i] = name + "=" + strings.Replace(value, "//"+u.Hostname()+":", "//127.0.0.1:", 1)
		}
		for target, dir := range mounts {
			if value == target || strings.HasPrefix(value, target+"/") {
				args[i] = name + "=" + dir + strings.TrimPrefix(value, target)
				if name == "--data-dir" {
					confStore = "volume " + volumeAt[target]
				}
			}
		}
	}
	if confStore == "" {
		t.Fatalf("%s reads its store from neither a volume (--data-dir) nor LIVEGATE_DATABASE_URL", confName)
	}
	if callbacks == nil {
		t.Fatalf("%s has no --livegate-url", confName)
	}
	callee, ok := project.Services[callbacks.Hostname()]
	if !ok {
		t.Fatalf("%s's --livegate-url is %v, want a livegate service's name", confName, callbacks)
	}
	if s := serviceStore(callee); s != confStore {
		t.Errorf("%s reads the callback secret from the %s, but its callbacks go to %s, whose store is the %s", confName, confStore, callee.Name, s)
	}

	var stderr bytes.Buffer
	if err := run(context.Background(), args, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%s's command %v: %v\n%s", confName, args, err, stderr.String())
	}
	out := filepath.Join(mounts["/nginx"], "nginx.conf")
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%s's command wrote no %s (the nginx-rtmp image reads /nginx/nginx.conf): %v", confName, out, err)
	}
	nginxSvc, ok := project.Services[nginxName]
	if !ok {
		t.Fatalf("no service %s", nginxName)
	}
	if len(nginxSvc.Volumes) != 1 || nginxSvc.Volumes[0].Source != volumeAt["/nginx"] || nginxSvc.Volumes[0].Target != "/nginx" {
		t.Errorf("%s mounts %v, want the volume %s writes (%s) at /nginx", nginxName, nginxSvc.Volumes, confName, volumeAt["/nginx"])
	}
	published := map[string]uint32{} // host port -> the port nginx listens on
	for _, p := range nginxSvc.Ports {
		if !regexp.MustCompile(`\blisten\s+` + strconv.Itoa(int(p.Target)) + `\b`).Match(written) {
			t.Errorf("%s publishes port %d, where the configuration %s writes does not listen:\n%s", nginxName, p.Target, confName, written)
		}
		published[p.Published] = p.Target
	}

	// The livegate services that hand out this nginx's addresses.
	users := 0
	for _, name := range slices.Sorted(maps.Keys(project.Services)) {
		svc := project.Services[name]
		ingest, playback := envURL(t, svc, "LIVEGATE_INGEST_BASE"), envURL(t, svc, "LIVEGATE_PLAYBACK_BASE")
		if ingest == nil || strconv.Itoa(int(published[ingest.Port()])) != flags["--rtmp-listen"] {
			continue
		}
		users++
		if ingest.Path != "/live" {
			t.Errorf("%s: LIVEGATE_INGEST_BASE %s, want the path /live (nginx's ingest application)", name, ingest)
		}
		if playback == nil || strconv.Itoa(int(published[playback.Port()])) != flags["--http-listen"] || playback.Path != "/hls" {
			t.Errorf("%s: LIVEGATE_PLAYBACK_BASE %v, want http://localhost:<the port %s publishes for %s>/hls", name, playback, nginxName, flags["--http-listen"])
		}
		if s := serviceStore(svc); s != confStore {
			t.Errorf("%s hands out %s's ingest (%s), but keeps its stream keys in the %s, and %s's callbacks go to the %s", name, nginxName, ingest, s, nginxName, confStore)
		}
	}
	if users == 0 {
		t.Errorf("no livegate service hands out %s's ingest address", nginxName)
	}

	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Fatalf("nginx (Debian's nginx and libnginx-mod-rtmp, as the nginx-rtmp image installs them) is needed: %v", err)
	}
	prefix := t.TempDir()
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	check := exec.Command(nginx, "-t", "-q", "-c", out, "-p", prefix, "-e", filepath.Join(prefix, "logs", "error.log"))
	if msg, err := check.CombinedOutput(); err != nil {
		t.Errorf("nginx -t rejects the configuration %s writes: %v\n%s\n%s", confName, err, msg, written)
	}
}

// serviceStore names where a livegate service keeps its data: the database its
// LIVEGATE_DATABASE_URL names, else the volume mounted at its LIVEGATE_DATA_DIR.
func serviceStore(svc types.ServiceConfig) string {
	if v := svc.Environment["LIVEGATE_DATABASE_URL"]; v != nil {
		return "database " + *v
	}
	if dir := svc.Environment["LIVEGATE_DATA_DIR"]; dir != nil {
		for _, v := range svc.Volumes {
			if v.Target == *dir {
				return "volume " + v.Source
			}
		}
	}
	return "container's own disk"
}

// envURL is the URL a service's environment variable key holds (nil: not set).
func envURL(t *testing.T, svc types.ServiceConfig, key string) *url.URL {
	v := svc.Environment[key]
	if v == nil {
		return nil
	}
	u, err := url.Parse(*v)
	if err != nil {
		t.Errorf("%s: %s=%q: %v", svc.Name, key, *v, err)
		return nil
	}
	return u
}

// envNames are the environment variables a livegate command reads, from its --help (each
// flag's usage ends "(env NAME)").
func envNames(t *testing.T, command ...string) map[string]bool {
	t.Helper()
	var stderr bytes.Buffer
	_ = run(context.Background(), append(command, "--help"), &bytes.Buffer{}, &stderr)
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`\(env (LIVEGATE_[A-Z0-9_]+)\)`).FindAllStringSubmatch(stderr.String(), -1) {
		names[m[1]] = true
	}
	if len(names) == 0 {
		t.Fatalf("livegate %s --help names no environment variable:\n%s", command, stderr.String())
	}
	return names
}
