package top

import "github.com/charmbracelet/lipgloss"

// styles are the TUI's looks; with a terminal without colours (or no
// terminal, as in tests) they print plain text.
type styles struct {
	title lipgloss.Style // the first header line
	head  lipgloss.Style // table titles
	sel   lipgloss.Style // the selected row
	mark  lipgloss.Style // the selection marker
	oom   lipgloss.Style // OOM! and the time-to-OOM line
	leak  lipgloss.Style // LEAK?
	spark lipgloss.Style // sparklines
	help  lipgloss.Style // the key help line
	warn  lipgloss.Style // notices: lost events, a gone service
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		title: r.NewStyle().Bold(true),
		head:  r.NewStyle().Bold(true).Underline(true),
		sel:   r.NewStyle().Reverse(true),
		mark:  r.NewStyle().Bold(true),
		oom:   r.NewStyle().Bold(true).Foreground(lipgloss.Color("9")),
		leak:  r.NewStyle().Bold(true).Foreground(lipgloss.Color("11")),
		spark: r.NewStyle().Foreground(lipgloss.Color("6")),
		help:  r.NewStyle().Faint(true),
		warn:  r.NewStyle().Foreground(lipgloss.Color("11")),
	}
}
