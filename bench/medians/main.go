// Command medians merges the Markdown reports of several bench/run runs
// into one: every table row that all the reports share, with each numeric
// cell replaced by the median of that cell over the runs, and its target
// verdict recomputed from the median ratios by the same rule as the
// report's (the ratios, and the CPU ratios where the row had them, against
// the section's goal, ±10% marked noise). Lines that are not table rows
// are taken from the first report.
//
//	medians run1.md run2.md run3.md > medians.md
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A cell's number: digits with thousands separators, a decimal part, and
// a unit after it ("137,105 req/s", "0.89", "1.35 ms", "16.0 MiB").
var number = regexp.MustCompile(`^(-?[0-9][0-9,]*(?:\.[0-9]+)?)(.*)$`)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: medians REPORT.md REPORT.md [REPORT.md...]")
		os.Exit(2)
	}
	var reports [][]string
	for _, p := range os.Args[1:] {
		lines, err := readLines(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "medians:", err)
			os.Exit(1)
		}
		reports = append(reports, lines)
	}
	// A row is known by its section heading and its first cell.
	rows := make([]map[string][]string, len(reports))
	for i, lines := range reports {
		rows[i] = map[string][]string{}
		section := ""
		for _, l := range lines {
			if strings.HasPrefix(l, "## ") {
				section = l
			}
			if cells := cellsOf(l); cells != nil {
				rows[i][section+"|"+cells[0]] = cells
			}
		}
	}
	// A section's goal is in its "Target:" line, below its table.
	goals := map[string]float64{}
	section := ""
	for _, l := range reports[0] {
		if strings.HasPrefix(l, "## ") {
			section = l
		}
		if g, ok := goalOf(l); ok {
			goals[section] = g
		}
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	section = ""
	for _, l := range reports[0] {
		if strings.HasPrefix(l, "## ") {
			section = l
		}
		goal, ok := goals[section]
		if !ok {
			goal = 1.0
		}
		cells := cellsOf(l)
		if cells == nil || strings.HasPrefix(cells[0], "---") || cells[0] == "scenario" {
			fmt.Fprintln(w, l)
			continue
		}
		var runs [][]string
		for _, r := range rows {
			if c, ok := r[section+"|"+cells[0]]; ok && len(c) == len(cells) {
				runs = append(runs, c)
			}
		}
		merged := make([]string, len(cells))
		merged[0] = cells[0]
		for j := 1; j < len(cells); j++ {
			merged[j] = medianCell(runs, j)
		}
		merged[len(cells)-1] = verdict(merged, goal, len(runs))
		fmt.Fprintf(w, "| %s |\n", strings.Join(merged, " | "))
	}
}

func readLines(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n"), nil
}

// cellsOf returns a table row's cells, or nil for another line.
func cellsOf(l string) []string {
	if !strings.HasPrefix(l, "| ") || !strings.HasSuffix(l, " |") {
		return nil
	}
	cells := strings.Split(l[2:len(l)-2], " | ")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// goalOf reads a section's goal from its "Target: ratio ≥ G" line.
func goalOf(l string) (float64, bool) {
	m := regexp.MustCompile(`^Target: ratio ≥ ([0-9.]+)`).FindStringSubmatch(l)
	if m == nil {
		return 0, false
	}
	g, err := strconv.ParseFloat(m[1], 64)
	return g, err == nil
}

// medianCell is the median of column j over runs, written as the runs
// wrote it; a column that is not a number in every run keeps run 1's.
func medianCell(runs [][]string, j int) string {
	var vals []float64
	unit, decimals := "", 0
	for _, c := range runs {
		m := number.FindStringSubmatch(c[j])
		if m == nil {
			return runs[0][j]
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		if err != nil {
			return runs[0][j]
		}
		vals = append(vals, v)
		unit = m[2]
		if i := strings.IndexByte(m[1], '.'); i >= 0 {
			decimals = len(m[1]) - i - 1
		}
	}
	slices.Sort(vals)
	med := vals[len(vals)/2]
	if len(vals)%2 == 0 {
		med = (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
	}
	s := strconv.FormatFloat(med, 'f', decimals, 64)
	if strings.Contains(runs[0][j], ",") || (decimals == 0 && med >= 1000) {
		s = commas(s)
	}
	return s + unit
}

func commas(s string) string {
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

// verdict recomputes a row's target from its median ratio cells: the
// "ratio" column (4th) and, for echo and user-agent, which bench/run
// judges per CPU-second too, the "CPU ratio" column (7th).
func verdict(cells []string, goal float64, runs int) string {
	perCPU := strings.HasPrefix(cells[0], "echo") || strings.HasPrefix(cells[0], "user-agent")
	worst := 1e9
	for _, j := range []int{3, 6} {
		if j >= len(cells) || (j == 6 && !perCPU) {
			continue
		}
		if v, err := strconv.ParseFloat(cells[j], 64); err == nil {
			worst = min(worst, v)
		}
	}
	v := "PASS"
	switch {
	case worst == 1e9:
		return cells[len(cells)-1]
	case worst < goal-0.10:
		v = "MISS"
	case worst < goal:
		v = "MISS (noise)"
	}
	return fmt.Sprintf("%s (median of %d runs)", v, runs)
}
