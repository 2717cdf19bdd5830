// Command report turns the raw results that bench/run collects into the
// Markdown report it prints: one row per scenario comparing httpbox with
// nginx, then the memory and idle-connection lines, with PASS/MISS against
// the team's targets.
//
// With -section it writes one section of rows only (no memory or idle
// lines), comparing any two sides: -a and -b name them in the results,
// -a-head and -b-head in the table, -title heads the section and -goal is
// the ratio every row must reach (metrics on / off, or httpbox/nginx over
// TLS).
//
// Input, both tab-separated, one record a line:
//
//	-results: key label unit target round server value p99_ms requests cpu_ticks errors [other_pct [wall_ms]]
//	-meta:    name value
//
// unit is "req/s" or "MB/s"; target is "thr" (throughput ratio >= goal) or
// "thr+cpu" (throughput ratio and requests per CPU-second ratio >= goal);
// server is "httpbox" or "nginx" (or -a and -b); cpu_ticks is the server's utime+stime delta
// over the run in clock ticks (-clk per second); other_pct is how much of the
// server's or the client's CPU other work took during the run, in percent;
// wall_ms is how long the run took.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// noise is the relative difference below which a ratio is not a real result.
const noise = 0.10

// busyPct is the share of the server's or the client's CPU taken by other
// work in a run above which a row is flagged as measured on a busy machine.
const busyPct = 10.0

// saturated is the share of its CPU below which a server was not the
// bottleneck of a run.
const saturated = 0.90

// opts say which two sides a report compares, and against what goal.
type opts struct {
	a, b, aHead, bHead, title string
	goal                      float64
	section                   bool
}

type run struct {
	round    int
	value    float64 // req/s or MB/s
	p99ms    float64
	requests float64
	ticks    float64
	errors   int64
	otherPct float64 // the server's or client's CPU taken by other work, percent
	wallMs   float64 // the run's wall-clock time
}

type scenario struct {
	key, label, unit, target string
	runs                     map[string]map[int]run // server -> round -> run
}

func main() {
	resultsPath := flag.String("results", "", "results file (TSV)")
	metaPath := flag.String("meta", "", "meta file (TSV)")
	clk := flag.Float64("clk", 100, "clock ticks per second (getconf CLK_TCK)")
	out := flag.String("out", "", "also write the report to this file")
	var o opts
	flag.StringVar(&o.a, "a", "httpbox", "the side a ratio divides (numerator)")
	flag.StringVar(&o.b, "b", "nginx", "the side a ratio divides by (denominator)")
	flag.StringVar(&o.aHead, "a-head", "", "column head of -a (default: its name)")
	flag.StringVar(&o.bHead, "b-head", "", "column head of -b (default: its name)")
	flag.StringVar(&o.title, "title", "httpbox vs nginx", "the section's heading")
	flag.Float64Var(&o.goal, "goal", 1.0, "the ratio every row must reach")
	flag.BoolVar(&o.section, "section", false, "write only the titled table: no memory or idle-connection lines")
	flag.Parse()
	if o.aHead == "" {
		o.aHead = o.a
	}
	if o.bHead == "" {
		o.bHead = o.b
	}
	if !(o.goal > 0) {
		fmt.Fprintln(os.Stderr, "report: -goal must be a positive number")
		os.Exit(2)
	}
	if *resultsPath == "" {
		fmt.Fprintln(os.Stderr, "report: -results is required")
		os.Exit(2)
	}
	scen, err := readResults(*resultsPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	meta := map[string]string{}
	var info []string
	if *metaPath != "" {
		if err := readTSV(*metaPath, func(f []string) {
			if len(f) < 2 {
				return
			}
			if f[0] == "info" {
				info = append(info, f[1])
			} else {
				meta[f[0]] = f[1]
			}
		}); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
	var b strings.Builder
	write(&b, scen, meta, info, *clk, o)
	fmt.Print(b.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
}

func readTSV(path string, fn func([]string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fn(strings.Split(line, "\t"))
	}
	return sc.Err()
}

func readResults(path string) ([]*scenario, error) {
	var order []*scenario
	byKey := map[string]*scenario{}
	var bad error
	err := readTSV(path, func(f []string) {
		if len(f) < 11 || len(f) > 13 {
			bad = fmt.Errorf("%s: want 11 to 13 fields, got %d: %q", path, len(f), strings.Join(f, "\t"))
			return
		}
		s := byKey[f[0]]
		if s == nil {
			s = &scenario{key: f[0], label: f[1], unit: f[2], target: f[3], runs: map[string]map[int]run{}}
			byKey[f[0]] = s
			order = append(order, s)
		}
		round, _ := strconv.Atoi(f[4])
		r := run{round: round, value: num(f[6]), p99ms: num(f[7]), requests: num(f[8]), ticks: num(f[9])}
		r.errors, _ = strconv.ParseInt(f[10], 10, 64)
		r.otherPct, r.wallMs = math.NaN(), math.NaN()
		if len(f) >= 12 {
			r.otherPct = num(f[11])
		}
		if len(f) >= 13 {
			r.wallMs = num(f[12])
		}
		if s.runs[f[5]] == nil {
			s.runs[f[5]] = map[int]run{}
		}
		s.runs[f[5]][round] = r
	})
	if err == nil {
		err = bad
	}
	return order, err
}

func num(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// perCPU is requests per CPU-second of the server during one run.
func perCPU(r run, clk float64) float64 {
	if r.ticks <= 0 || math.IsNaN(r.ticks) {
		return math.NaN()
	}
	return r.requests / (r.ticks / clk)
}

type row struct {
	hb, ng, ratio          float64
	hbCPU, ngCPU, cpuRatio float64
	hbP99, ngP99           float64
	errors                 int64
	rounds                 int
	worstOther             float64
	hbUse, ngUse           float64 // median share of a CPU the server used
}

// summarize sums up a scenario's runs; hb* are side a's figures, ng* side b's.
func summarize(s *scenario, clk float64, a, b string) row {
	hb, ng := s.runs[a], s.runs[b]
	var r row
	var hbV, ngV, ratios, hbC, ngC, cpuRatios, hbP, ngP, hbU, ngU []float64
	for _, x := range hb {
		hbV = append(hbV, x.value)
		hbC = append(hbC, perCPU(x, clk))
		hbP = append(hbP, x.p99ms)
		hbU = append(hbU, use(x, clk))
		r.errors += x.errors
		r.worstOther = math.Max(r.worstOther, x.otherPct)
	}
	for _, x := range ng {
		ngV = append(ngV, x.value)
		ngC = append(ngC, perCPU(x, clk))
		ngP = append(ngP, x.p99ms)
		ngU = append(ngU, use(x, clk))
		r.errors += x.errors
		r.worstOther = math.Max(r.worstOther, x.otherPct)
	}
	for round, a := range hb {
		b, ok := ng[round]
		if !ok {
			continue
		}
		r.rounds++
		if b.value > 0 {
			ratios = append(ratios, a.value/b.value)
		}
		if c := perCPU(b, clk); c > 0 {
			cpuRatios = append(cpuRatios, perCPU(a, clk)/c)
		}
	}
	r.hb, r.ng, r.ratio = median(hbV), median(ngV), median(ratios)
	r.hbCPU, r.ngCPU, r.cpuRatio = median(hbC), median(ngC), median(cpuRatios)
	r.hbP99, r.ngP99 = median(hbP), median(ngP)
	r.hbUse, r.ngUse = median(hbU), median(ngU)
	return r
}

// use is the share of one CPU the server used during a run.
func use(r run, clk float64) float64 {
	if !(r.wallMs > 0) || math.IsNaN(r.ticks) {
		return math.NaN()
	}
	return r.ticks / clk / (r.wallMs / 1000)
}

// verdict says PASS when every ratio is at least goal, "MISS (noise)" when
// the worst is within the noise band below it, and MISS otherwise.
func verdict(goal float64, ratios ...float64) string {
	worst := math.Inf(1)
	for _, x := range ratios {
		if math.IsNaN(x) {
			return "n/a"
		}
		worst = math.Min(worst, x)
	}
	switch {
	case worst >= goal:
		return "PASS"
	case worst >= goal-noise:
		return "MISS (noise)"
	default:
		return "MISS"
	}
}

func write(w io.Writer, scen []*scenario, meta map[string]string, info []string, clk float64, o opts) {
	fmt.Fprintf(w, "## %s\n", o.title)
	fmt.Fprintln(w)
	for _, l := range info {
		fmt.Fprintf(w, "- %s\n", l)
	}
	if len(info) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "| scenario | %[1]s | %[2]s | ratio | %[1]s req/CPU-s | %[2]s req/CPU-s | CPU ratio | p99 %[1]s | p99 %[2]s | target |\n", o.aHead, o.bHead)
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	totalErrors := int64(0)
	busy, unsaturated := false, false
	// A section's goal may sit between two 2-digit ratios (0.97): there a
	// ratio of 0.9695 must not read "0.97" beside a MISS.
	rf := ratio
	if o.section {
		rf = ratio3
	}
	for _, s := range scen {
		r := summarize(s, clk, o.a, o.b)
		totalErrors += r.errors
		var v string
		if s.target == "thr+cpu" {
			v = verdict(o.goal, r.ratio, r.cpuRatio)
		} else {
			v = verdict(o.goal, r.ratio)
		}
		if r.errors > 0 {
			v += fmt.Sprintf(", %d errors", r.errors)
		}
		if r.worstOther > busyPct {
			v += fmt.Sprintf(", busy CPU (%.0f%%)", r.worstOther)
			busy = true
		}
		if r.hbUse < saturated || r.ngUse < saturated {
			v += fmt.Sprintf(", server CPU use %s/%s", pct(r.hbUse), pct(r.ngUse))
			unsaturated = true
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.label, rate(r.hb, s.unit), rate(r.ng, s.unit), rf(r.ratio),
			count(r.hbCPU), count(r.ngCPU), rf(r.cpuRatio),
			ms(r.hbP99), ms(r.ngP99), v)
	}
	fmt.Fprintln(w)
	if o.section {
		fmt.Fprintf(w, "Target: ratio ≥ %.2f on every row. Ratios are %s/%s, each the median over rounds of the ratio within one round (servers alternate A B, B A, ...). ±%.0f%% is noise on this shared 2-core machine: a MISS inside that band is marked \"(noise)\". req/CPU-s counts the server's user+system CPU time only.\n",
			o.goal, o.aHead, o.bHead, noise*100)
	} else {
		fmt.Fprintln(w, "Targets: echo and user-agent need ratio and CPU ratio ≥ 1.0; the files, the upload and the listings need ratio ≥ 1.0.")
		fmt.Fprintf(w, "Ratios are httpbox/nginx, each the median over rounds of the ratio within one round (servers alternate A B, B A, ...); above 1.0 httpbox is ahead. ±%.0f%% is noise on this shared 2-core machine: a MISS inside that band is marked \"(noise)\". req/CPU-s counts the server's user+system CPU time only.\n", noise*100)
	}
	if busy {
		fmt.Fprintf(w, "\n\"busy CPU (N%%)\": in some run of that row, other work took more than %.0f%% of the server's or the client's CPU (the worst share is shown). The two servers then did not get the same machine, so the req/s ratio is unreliable; the req/CPU-s columns and their ratio hold up better.\n", busyPct)
	}
	if unsaturated {
		fmt.Fprintf(w, "\n\"server CPU use A/B\": the median share of its CPU that %s/%s used in that row, shown when one stayed under %.0f%%. That server was then waiting on something else (the client, the disk, the other server's share of the machine), so its req/s is not its capacity; req/CPU-s still compares the cost per request.\n", o.aHead, o.bHead, saturated*100)
	}
	if totalErrors > 0 {
		fmt.Fprintf(w, "\n**%d requests failed** (non-2xx/3xx or socket errors): those rows do not measure what they say.\n", totalErrors)
	}
	fmt.Fprintln(w)
	if o.section {
		return
	}

	rssTarget := num(meta["target_rss_mib"])
	idleTarget := num(meta["target_idle_rss_mib"])
	hbHWM, ngHWM := mib(meta["hwm_httpbox_kib"]), mib(meta["hwm_nginx_kib"])
	fmt.Fprintf(w, "Peak RSS (VmHWM) over the throughput scenarios: httpbox %s (target ≤ %.0f MiB: %s); nginx %s.\n",
		mibStr(hbHWM), rssTarget, atMost(hbHWM, rssTarget), mibStr(ngHWM))
	fmt.Fprintln(w)

	if meta["idle_n"] != "" {
		fmt.Fprintf(w, "%s idle keep-alive connections (fresh server processes; each connection sent one GET /healthz and then stays open and idle):\n\n",
			count(num(meta["idle_n"])))
		for _, srv := range []string{"httpbox", "nginx"} {
			rss, hwm := mib(meta["idle_"+srv+"_rss_kib"]), mib(meta["idle_"+srv+"_hwm_kib"])
			line := fmt.Sprintf("- %s: %s opened, %s established at the server; RSS %s with them open, peak (VmHWM) %s",
				srv, count(num(meta["idle_"+srv+"_ok"])), count(num(meta["idle_"+srv+"_est"])), mibStr(rss), mibStr(hwm))
			if srv == "httpbox" {
				// The target is what the idle connections cost once open;
				// the peak is the opening's, when each new connection
				// still holds its first request's buffer (see conn.read).
				line += fmt.Sprintf(" (target ≤ %.0f MiB with them open: %s)", idleTarget, atMost(rss, idleTarget))
			}
			fmt.Fprintln(w, line)
		}
		fmt.Fprintf(w, "- a fresh client meanwhile (%s): httpbox %s req/s, p50 %s, p99 %s; nginx %s req/s, p50 %s, p99 %s\n",
			meta["idle_client"],
			count(num(meta["idle_httpbox_rps"])), ms(num(meta["idle_httpbox_p50_ms"])), ms(num(meta["idle_httpbox_p99_ms"])),
			count(num(meta["idle_nginx_rps"])), ms(num(meta["idle_nginx_p50_ms"])), ms(num(meta["idle_nginx_p99_ms"])))
		if e := meta["idle_errors"]; e != "" && e != "0" {
			fmt.Fprintf(w, "- **%s requests of the fresh clients failed**\n", e)
		}
		fmt.Fprintln(w)
	}
}

func mib(kib string) float64 { return num(kib) / 1024 }

func mibStr(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", x)
}

func atMost(x, limit float64) string {
	switch {
	case math.IsNaN(x) || math.IsNaN(limit):
		return "n/a"
	case x <= limit:
		return "PASS"
	default:
		return "MISS"
	}
}

func rate(x float64, unit string) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return count(x) + " " + unit
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}

func ratio(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x)
}

func ratio3(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", x)
}

func ms(x float64) string {
	switch {
	case math.IsNaN(x):
		return "n/a"
	case x < 10:
		return fmt.Sprintf("%.2f ms", x)
	default:
		return fmt.Sprintf("%.1f ms", x)
	}
}

// count formats x rounded to an integer with thousands separators.
func count(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
