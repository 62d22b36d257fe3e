package top

import (
	"slices"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// tcol is a column of a TUI table.
type tcol struct {
	title string
	left  bool
	max   int // cap on the natural width; 0 for none
}

// part is a piece of a cell with its own style (nil: plain).
type part struct {
	text string
	st   *lipgloss.Style
	tail bool // when cut, keep the end (a sparkline's newest values)
}

// cell is what a table shows at one row and column.
type cell []part

func plain(s string) cell { return cell{{text: s}} }

func (c cell) width() int {
	n := 0
	for _, p := range c {
		n += width(p.text)
	}
	return n
}

// fitStep is one way to make a table narrower: shrink column col down to
// at least to cells, or drop it (to < 0).
type fitStep struct{ col, to int }

const (
	colGap    = 2 // between columns
	markWidth = 2 // the "> " selection marker
)

// layout picks the columns to show and their widths so the table fits in
// width, applying steps in order until it does.
func layout(cols []tcol, rows [][]cell, width int, steps []fitStep) (widths []int, keep []bool) {
	widths, keep = make([]int, len(cols)), make([]bool, len(cols))
	for i, c := range cols {
		widths[i], keep[i] = lipgloss.Width(c.title), true
		for _, r := range rows {
			widths[i] = max(widths[i], r[i].width())
		}
		if c.max > 0 {
			widths[i] = min(widths[i], max(c.max, lipgloss.Width(c.title)))
		}
	}
	total := func() int {
		n, shown := markWidth, 0
		for i, w := range widths {
			if keep[i] {
				n += w
				shown++
			}
		}
		return n + colGap*max(0, shown-1)
	}
	natural := slices.Clone(widths)
	var shrunk []int
	for _, s := range steps {
		over := total() - width
		if over <= 0 {
			break
		}
		if s.to < 0 {
			keep[s.col] = false
			continue
		}
		if widths[s.col] > s.to {
			widths[s.col] = max(s.to, widths[s.col]-over)
			shrunk = append(shrunk, s.col)
		}
	}
	// Dropping columns may have freed more room than needed: give it back
	// to the columns shrunk on the way.
	for _, c := range shrunk {
		if slack := width - total(); slack > 0 && keep[c] {
			widths[c] = min(natural[c], widths[c]+slack)
		}
	}
	return widths, keep
}

// renderTable draws the title line and rows[from:to]; the row at sel (-1:
// none) is marked and drawn in the selection style. Columns are as wide as
// all the rows need, so that they do not jump while scrolling.
func (m Model) renderTable(cols []tcol, rows [][]cell, from, to, sel int, steps []fitStep) (title string, lines []string) {
	widths, keep := layout(cols, rows, m.width, steps)
	draw := func(cells []cell, base *lipgloss.Style, mark string) string {
		var b strings.Builder
		put := func(s string, st *lipgloss.Style) {
			switch {
			case s == "":
			case st != nil && base != nil:
				b.WriteString(st.Inherit(*base).Render(s))
			case st != nil:
				b.WriteString(st.Render(s))
			case base != nil:
				b.WriteString(base.Render(s))
			default:
				b.WriteString(s)
			}
		}
		put(mark, nil)
		first := true
		for i, c := range cells {
			if !keep[i] {
				continue
			}
			if !first {
				put(strings.Repeat(" ", colGap), nil)
			}
			first = false
			fill := widths[i] - c.width()
			if fill > 0 && !cols[i].left {
				put(strings.Repeat(" ", fill), nil)
			}
			left := widths[i]
			for _, p := range c {
				t := truncate(p.text, left)
				if p.tail && width(p.text) > left {
					t = ansi.TruncateLeft(p.text, width(p.text)-max(0, left), "")
				}
				left -= width(t)
				put(t, p.st)
			}
			if fill > 0 && cols[i].left {
				put(strings.Repeat(" ", fill), nil)
			}
		}
		return b.String()
	}
	titles := make([]cell, len(cols))
	for i, c := range cols {
		titles[i] = plain(c.title)
	}
	title = truncate(m.st.head.Render(strings.TrimRight(draw(titles, nil, "  "), " ")), m.width)
	for i := from; i < to; i++ {
		r := rows[i]
		if i == sel {
			line := draw(r, &m.st.sel, "")
			// The selected row spans the full width in the selection style.
			fill := max(0, m.width-markWidth-width(line))
			lines = append(lines, truncate(m.st.mark.Render("> ")+line+m.st.sel.Render(strings.Repeat(" ", fill)), m.width))
			continue
		}
		lines = append(lines, truncate(strings.TrimRight(draw(r, nil, "  "), " "), m.width))
	}
	return title, lines
}
