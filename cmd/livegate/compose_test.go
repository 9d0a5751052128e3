package main

import (
	"bytes"
	"context"
	"maps"
	"net"
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
	want := []string{"livegate", "livegate-a", "livegate-b", "nginx-conf", "nginx-rtmp", "postgres"}
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

	// The one-shot that writes nginx.conf, run as compose runs it, with its volumes here.
	conf := project.Services["nginx-conf"]
	mounts := map[string]string{}
	for _, v := range conf.Volumes {
		dir := filepath.Join(t.TempDir(), v.Source) // a mounted volume is a directory there
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		mounts[v.Target] = dir
	}
	// nginx resolves the callbacks' host when it loads the configuration; the compose
	// network's name for livegate's service (nginx-rtmp starts once it is healthy) is
	// loopback here.
	args := slices.Clone([]string(conf.Command))
	var callbacks string
	for i, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok {
			continue
		}
		if name == "--livegate-url" {
			callbacks = value
			args[i] = name + "=" + strings.Replace(value, "//livegate:", "//127.0.0.1:", 1)
		}
		for target, dir := range mounts {
			if value == target || strings.HasPrefix(value, target+"/") {
				args[i] = name + "=" + dir + strings.TrimPrefix(value, target)
			}
		}
	}
	if !strings.Contains(callbacks, "//livegate:") {
		t.Fatalf("nginx-conf's --livegate-url is %q, want the livegate service's name", callbacks)
	}
	var stderr bytes.Buffer
	if err := run(context.Background(), args, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("nginx-conf's command %v: %v\n%s", args, err, stderr.String())
	}
	out := filepath.Join(mounts["/nginx"], "nginx.conf")
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("nginx-conf's command wrote no %s (the nginx-rtmp image reads /nginx/nginx.conf): %v", out, err)
	}
	rtmpImage := project.Services["nginx-rtmp"]
	for _, p := range rtmpImage.Ports {
		if !regexp.MustCompile(`\blisten\s+` + strconv.Itoa(int(p.Target)) + `\b`).Match(written) {
			t.Errorf("nginx-rtmp publishes port %d, where the configuration nginx-conf writes does not listen:\n%s", p.Target, written)
		}
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
		t.Errorf("nginx -t rejects the configuration nginx-conf writes: %v\n%s\n%s", err, msg, written)
	}
}

// envNames are the environment variables a livegate command reads, from its --help (each
// flag's usage ends "(env NAME)").
func envNames(t *testing.T, command string) map[string]bool {
	t.Helper()
	var stderr bytes.Buffer
	_ = run(context.Background(), []string{command, "--help"}, &bytes.Buffer{}, &stderr)
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`\(env (LIVEGATE_[A-Z0-9_]+)\)`).FindAllStringSubmatch(stderr.String(), -1) {
		names[m[1]] = true
	}
	if len(names) == 0 {
		t.Fatalf("livegate %s --help names no environment variable:\n%s", command, stderr.String())
	}
	return names
}
