package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the test binary the journey command of the README scripts:
// testscript's exec journey runs journeyMain in a child process, exactly as
// the built binary would.
func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{"journey": journeyMain}))
}

// TestReadme runs the README's command examples and compares their output
// with what the README shows, so that the README cannot drift from the
// binary.
//
// Every ```console block of README.md is preceded by a marker comment:
// <!-- readme-test: NAME --> runs it, <!-- readme-test: skip: REASON -->
// states why it is not run. The blocks of one NAME form one testscript
// script, run in order in its own $WORK (written, for reading on failure,
// to the test's temporary directory). A block line "$ CMD" is a command
// and the lines after it, up to the next "$ ", the output it prints
// (stdout, then stderr). Output that starts with "journey: " is an error:
// the command must then exit non-zero. In the comparison, durations
// ("in 173ms"), rates ("39992 events/s", "duration_s", "events_per_s") and
// 64-hex hashes are masked, "…" in a shown line matches anything, and a
// line that is only "…" any number of lines.
//
// Commands run from the repository root. /tmp/ in a command is $WORK/tmp/,
// and the ports 4222 and 8080 are free ports picked for the run; the
// output is mapped back before comparing. A script that names a file of
// ../shared/data that is absent is skipped, saying which.
func TestReadme(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := readmeScripts(string(readme), root)
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) == 0 {
		t.Fatal("README.md has no <!-- readme-test: NAME --> block")
	}
	dir := t.TempDir()
	for _, s := range scripts {
		if err := os.WriteFile(filepath.Join(dir, s.name+".txtar"), []byte(s.text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("scripts from README.md in %s", dir)
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", root)
			for _, v := range []string{"NATSPORT", "HTTPPORT"} {
				p, err := freePort()
				if err != nil {
					return err
				}
				env.Setenv(v, p)
			}
			return os.MkdirAll(filepath.Join(env.WorkDir, "tmp"), 0o755)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"cmpout":     cmdCmpout,
			"curl":       cmdCurl,
			"waithttp":   cmdWaitHTTP,
			"waitingest": cmdWaitIngest,
		},
	})
}

// readmeScript is the testscript text of one named example.
type readmeScript struct{ name, text string }

var (
	markerRE = regexp.MustCompile(`^<!-- readme-test: (skip: .+|[a-z0-9-]+) -->$`)
	safeArg  = regexp.MustCompile(`^[A-Za-z0-9_./:=,@%+-]+$`)
)

// readmeScripts turns the marked console blocks of readme into scripts.
func readmeScripts(readme, root string) ([]readmeScript, error) {
	var (
		order   []string
		bodies  = map[string]*strings.Builder{}
		files   = map[string]*strings.Builder{}
		skips   = map[string]string{}
		marker  string
		lines   = strings.Split(readme, "\n")
		nOutput int
	)
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if m := markerRE.FindStringSubmatch(l); m != nil {
			marker = m[1]
			continue
		}
		if !strings.HasPrefix(l, "```") {
			if l != "" {
				marker = ""
			}
			continue
		}
		info := strings.TrimPrefix(l, "```")
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		if info != "console" {
			marker = ""
			continue
		}
		if marker == "" {
			return nil, fmt.Errorf("README.md:%d: a console block needs <!-- readme-test: NAME --> or <!-- readme-test: skip: REASON --> on the line before", start-1)
		}
		name := marker
		marker = ""
		if strings.HasPrefix(name, "skip: ") {
			continue
		}
		b := bodies[name]
		if b == nil {
			b, files[name] = &strings.Builder{}, &strings.Builder{}
			bodies[name] = b
			order = append(order, name)
			fmt.Fprintf(b, "# README.md example %q\ncd $REPO\n", name)
		}
		fmt.Fprintf(b, "\n# README.md:%d\n", start)
		block := lines[start:i]
		for j := 0; j < len(block); j++ {
			if !strings.HasPrefix(block[j], "$ ") {
				return nil, fmt.Errorf("README.md:%d: output before any $ command", start+j+1)
			}
			cmd := strings.TrimPrefix(block[j], "$ ")
			var out []string
			for j+1 < len(block) && !strings.HasPrefix(block[j+1], "$ ") {
				j++
				out = append(out, block[j])
			}
			nOutput++
			want := fmt.Sprintf("want/%d", nOutput) // in $WORK
			steps, missing, err := translate(cmd, root, want, out)
			if err != nil {
				return nil, fmt.Errorf("README.md:%d: %v", start+j+1, err)
			}
			if missing != "" && skips[name] == "" {
				skips[name] = missing
			}
			b.WriteString(steps)
			if len(out) > 0 {
				fmt.Fprintf(files[name], "-- %s --\n%s\n", want, strings.Join(out, "\n"))
			}
		}
	}
	var scripts []readmeScript
	for _, name := range order {
		text := bodies[name].String()
		if m := skips[name]; m != "" {
			text = fmt.Sprintf("skip '%s is absent (the shared data sets are not in the repository)'\n", m) + text
		}
		scripts = append(scripts, readmeScript{name, text + "\n" + files[name].String()})
	}
	return scripts, nil
}

// translate turns one README command line into script lines; want names
// the file holding its shown output. missing is a ../shared/data file the
// command needs that is absent.
func translate(line, root, want string, out []string) (steps, missing string, err error) {
	words, err := shellWords(line)
	if err != nil {
		return "", "", err
	}
	for _, w := range words {
		if strings.HasPrefix(w, "../shared/data/") {
			if _, err := os.Stat(filepath.Join(root, w)); err != nil {
				missing = w
			}
		}
	}
	var b strings.Builder
	switch words[0] {
	case "export":
		k, v, ok := strings.Cut(words[1], "=")
		if !ok || len(words) != 2 {
			return "", "", fmt.Errorf("export takes one NAME=VALUE")
		}
		fmt.Fprintf(&b, "env %s=%s\n", k, scriptArg(v))
		return b.String(), missing, nil
	case "sleep":
		return "# sleep: the script waits for the server instead\n", missing, nil
	case "rm":
		fmt.Fprintf(&b, "rm")
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "-") {
				fmt.Fprintf(&b, " %s", scriptArg(w))
			}
		}
		return b.String() + "\n", missing, nil
	}
	background := words[len(words)-1] == "&"
	if background {
		words = words[:len(words)-1]
	}
	// Split the pipeline; a final head or grep filters the compared output.
	var stages [][]string
	cur := []string{}
	for _, w := range words {
		if w == "|" {
			stages = append(stages, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, w)
	}
	stages = append(stages, cur)
	var filter []string
	if last := stages[len(stages)-1]; len(stages) > 1 && (last[0] == "head" || last[0] == "grep") {
		switch {
		case last[0] == "head" && len(last) == 2 && strings.HasPrefix(last[1], "-"):
			filter = []string{"-head", last[1][1:]}
		case last[0] == "grep" && len(last) == 2:
			filter = []string{"-grep", scriptArg(last[1])}
		default:
			return "", "", fmt.Errorf("only head -N and grep PATTERN can end a pipeline")
		}
		stages = stages[:len(stages)-1]
	}
	redirected := false
	for si, st := range stages {
		var redirect string
		if n := len(st); n >= 2 && st[n-2] == ">" {
			redirect, st = st[n-1], st[:n-2]
		}
		if si > 0 {
			b.WriteString("cp stdout $WORK/.pipe\nstdin $WORK/.pipe\n")
		}
		prog := st[0]
		switch prog {
		case "bin/journey":
			prog = "exec journey"
		case "curl":
			prog = "curl"
		default:
			return "", "", fmt.Errorf("%s: only bin/journey, curl, export, rm, head and grep are run", prog)
		}
		args := make([]string, 0, len(st))
		for _, w := range st[1:] {
			args = append(args, scriptArg(w))
		}
		final := si == len(stages)-1
		fails := final && len(out) > 0 && strings.HasPrefix(out[0], "journey: ")
		if fails {
			b.WriteString("! ")
		}
		fmt.Fprintf(&b, "%s %s", prog, strings.Join(args, " "))
		if background {
			if prog != "exec journey" || st[1] != "serve" {
				return "", "", fmt.Errorf("only journey serve runs in the background")
			}
			b.WriteString(" &\n")
			b.WriteString("waithttp " + scriptArg("http://"+flagValue(st, "--http", "127.0.0.1:8080")+"/readyz") + "\n")
			return b.String(), missing, nil
		}
		b.WriteString("\n")
		if redirect != "" {
			b.WriteString("cp stdout " + scriptArg(redirect) + "\n")
			redirected = final
		}
	}
	cmp := []string{"cmpout"}
	if redirected {
		cmp = append(cmp, "-stderr")
	}
	cmp = append(cmp, filter...)
	if len(out) == 0 {
		cmp = append(cmp, "-empty")
	} else {
		cmp = append(cmp, "$WORK/"+want)
	}
	b.WriteString(strings.Join(cmp, " ") + "\n")
	if last := stages[len(stages)-1]; last[0] == "bin/journey" && len(last) > 1 && last[1] == "publish" {
		// publish returns once JetStream holds the events; the engine
		// appends them a moment later.
		b.WriteString("waitingest " + scriptArg("http://127.0.0.1:8080/metrics") + "\n")
	}
	return b.String(), missing, nil
}

// flagValue is the value of --name in args, else def.
func flagValue(args []string, name, def string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return def
}

// scriptArg quotes a README word for a script line, mapping /tmp/ to
// $WORK/tmp/ and the ports 4222 and 8080 to $NATSPORT and $HTTPPORT.
func scriptArg(w string) string {
	r := strings.NewReplacer("/tmp/", "\x00WORK\x00/tmp/", ":4222", ":\x00NATSPORT\x00", ":8080", ":\x00HTTPPORT\x00")
	parts := strings.Split(r.Replace(w), "\x00")
	var b strings.Builder
	for i, p := range parts {
		switch {
		case i%2 == 1:
			b.WriteString("${" + p + "}")
		case p == "":
		case safeArg.MatchString(p):
			b.WriteString(p)
		default:
			b.WriteString("'" + strings.ReplaceAll(p, "'", "''") + "'")
		}
	}
	return b.String()
}

// shellWords splits a command line like sh: words, '…' and "…" quoting,
// and a # comment; | > & are words of their own.
func shellWords(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		have  bool
		quote rune
	)
	flush := func() {
		if have {
			words = append(words, cur.String())
			cur.Reset()
			have = false
		}
	}
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, have = r, true
		case r == ' ' || r == '\t':
			flush()
		case r == '#' && !have:
			flush()
			goto done
		case r == '|' || r == '>' || r == '&':
			flush()
			words = append(words, string(r))
		default:
			cur.WriteRune(r)
			have = true
		}
	}
done:
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	flush()
	if len(words) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return words, nil
}

var (
	durationRE = regexp.MustCompile(`\bin (\d+h)?(\d+m)?\d+(\.\d+)?(ns|µs|ms|s)\b`)
	rateRE     = regexp.MustCompile(`\b\d+(\.\d+)? ([a-zA-Z]+/s)\b`)
	clockRE    = regexp.MustCompile(`\b(20[2-9][6-9]|20[3-9]\d|2[1-9]\d\d)-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	jsonRateRE = regexp.MustCompile(`"(duration_s|events_per_s)":[0-9.eE+-]+`)
	hashRE     = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
)

// maskOutput masks what differs from run to run: durations, rates, hashes
// (a record's hash covers its record time) and times from 2026 on (times
// of receipt, from the clock; the examples' data are older).
func maskOutput(s string) string {
	s = clockRE.ReplaceAllString(s, "<clock>")
	s = durationRE.ReplaceAllString(s, "in <duration>")
	s = rateRE.ReplaceAllString(s, "<rate> $2")
	s = jsonRateRE.ReplaceAllString(s, `"$1":<number>`)
	return hashRE.ReplaceAllString(s, "<hash>")
}

// cmdCmpout compares the last command's stdout and stderr (only stderr
// with -stderr; stdout cut to -head N lines, or to the lines containing
// -grep PATTERN) with the README's output in a file, or with none (-empty).
func cmdCmpout(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! cmpout")
	}
	stdout, stderr := ts.ReadFile("stdout"), ts.ReadFile("stderr")
	want := ""
	for len(args) > 0 {
		switch args[0] {
		case "-stderr":
			stdout = ""
			args = args[1:]
		case "-head":
			n, _ := strconv.Atoi(args[1])
			ls := strings.SplitAfter(stdout, "\n")
			stdout = strings.Join(ls[:min(n, len(ls))], "")
			args = args[2:]
		case "-grep":
			var kept []string
			for _, l := range strings.SplitAfter(stdout, "\n") {
				if strings.Contains(l, args[1]) {
					kept = append(kept, l)
				}
			}
			stdout = strings.Join(kept, "")
			args = args[2:]
		case "-empty":
			args = args[1:]
		default:
			want = ts.ReadFile(args[0])
			args = args[1:]
		}
	}
	got := strings.NewReplacer(
		ts.Getenv("WORK")+"/tmp/", "/tmp/",
		":"+ts.Getenv("NATSPORT"), ":4222",
		":"+ts.Getenv("HTTPPORT"), ":8080",
	).Replace(stdout + stderr)
	got = maskOutput(strings.TrimRight(got, "\n"))
	wantRE := outputPattern(maskOutput(strings.TrimRight(want, "\n")))
	if !wantRE.MatchString(got) {
		ts.Fatalf("the output differs from README.md's\n--- got:\n%s\n--- README shows:\n%s", got, strings.TrimRight(want, "\n"))
	}
}

// outputPattern is the regexp of shown output: "…" matches anything on
// its line, a line of "…" alone any lines.
func outputPattern(want string) *regexp.Regexp {
	if want == "" {
		return regexp.MustCompile(`^$`)
	}
	var b strings.Builder
	b.WriteString(`^`)
	for i, l := range strings.Split(want, "\n") {
		if i > 0 {
			b.WriteString(`\n`)
		}
		if strings.TrimSpace(l) == "…" {
			b.WriteString(`(?:.*\n)*.*`)
			continue
		}
		parts := strings.Split(l, "…")
		for k := range parts {
			parts[k] = regexp.QuoteMeta(parts[k])
		}
		b.WriteString(strings.Join(parts, `.*`))
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// cmdCurl is curl -s URL: a GET whose body goes to stdout.
func cmdCurl(ts *testscript.TestScript, neg bool, args []string) {
	url := args[len(args)-1]
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	resp, err := http.Get(url)
	ts.Check(err)
	defer resp.Body.Close()
	_, err = io.Copy(ts.Stdout(), resp.Body)
	ts.Check(err)
}

// cmdWaitHTTP waits up to 30 s for URL to answer 200.
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer 200 within 30s (last: %v)", args[0], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmdWaitIngest waits up to 30 s until the engine's metrics at URL count
// as appended, duplicate or rejected the events the last publish published,
// and its views have folded the log up to its durable head.
func cmdWaitIngest(ts *testscript.TestScript, neg bool, args []string) {
	m := regexp.MustCompile(`published (\d+)`).FindStringSubmatch(ts.ReadFile("stdout"))
	if m == nil {
		ts.Fatalf("waitingest: the last stdout says no 'published N'")
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := readMetrics(args[0]); ingested(m) >= n && m["journey_views_checkpoint"] >= m["journey_log_durable_seq"] {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("the engine did not take %v events within 30s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ingested sums the appended, duplicate and rejected counters.
func ingested(m map[string]float64) float64 {
	return m["journey_events_appended_total"] + m["journey_events_duplicate_total"] + m["journey_events_rejected_total"]
}

// readMetrics reads the journey_ metrics at url, summing the series of a
// metric with labels.
func readMetrics(url string) map[string]float64 {
	m := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "journey_") {
			continue
		}
		f := strings.Fields(l)
		name, _, _ := strings.Cut(f[0], "{")
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		m[name] += v
	}
	return m
}

// freePort is a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
