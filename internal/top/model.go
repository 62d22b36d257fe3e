package top

import (
	"io"
	"strings"
	"time"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
)

// Options configure the interactive view.
type Options struct {
	Sort     SortKey       // initial sort key; "" means rss
	Interval time.Duration // the snapshot interval, shown in the header
	Input    io.Reader     // nil: the terminal
	Output   io.Writer     // nil: the terminal
}

// SnapshotMsg hands a snapshot to the Model, as Push does.
type SnapshotMsg aggregate.Snapshot

// feedClosedMsg says the snapshot channel was closed.
type feedClosedMsg struct{}

type screen int

const (
	screenServices  screen = iota // the table of services
	screenProcesses               // one service's processes
)

// Model is the state of the interactive view; it implements tea.Model and
// works without a terminal: feed it snapshots with Push or SnapshotMsg, keys
// and window sizes with Update, and read View.
type Model struct {
	opts Options
	sort SortKey
	st   styles

	snap    aggregate.Snapshot
	have    bool
	history map[string][]uint64 // recent RSS per service name, oldest first

	rows     []aggregate.Service // the services shown: filtered and sorted
	cursor   int
	offset   int    // first row on screen
	selected string // name under the cursor, kept across updates

	screen  screen
	detail  string // the service whose processes are shown
	procOff int    // first process on screen

	filter  string
	editing bool // typing a filter

	allFrames bool // the drill-down's stacks unfolded (aggregate.Collapse)

	width, height int
	quitting      bool
}

// NewModel makes a Model that has no snapshot yet.
func NewModel(opts Options) Model {
	key, err := ParseSortKey(string(opts.Sort))
	if err != nil {
		key = SortRSS
	}
	r := lipgloss.DefaultRenderer()
	if opts.Output != nil {
		r = lipgloss.NewRenderer(opts.Output)
	}
	return Model{
		opts:    opts,
		sort:    key,
		st:      newStyles(r),
		history: map[string][]uint64{},
		width:   100,
	}
}

// SortKey is the current sort key.
func (m Model) SortKey() SortKey { return m.sort }

// Init implements tea.Model.
func (m Model) Init() tea.Cmd { return nil }

// Push takes in a new snapshot: it becomes the one shown, and each service's
// RSS is added to its history.
func (m *Model) Push(snap aggregate.Snapshot) {
	hist := make(map[string][]uint64, len(snap.Services))
	for _, s := range snap.Services {
		h, ok := hist[s.Name]
		if !ok {
			h = m.history[s.Name]
		}
		hist[s.Name] = pushHistory(h, s.RSS)
	}
	m.history = hist // services that left drop their history
	m.snap, m.have = snap, true
	m.rebuild()
}

// Update implements tea.Model.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case SnapshotMsg:
		m.Push(aggregate.Snapshot(msg))
	case feedClosedMsg:
		m.quitting = true
		return m, tea.Quit
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.scroll()
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !m.editing && !msg.Paste {
			// Keys typed quickly can arrive together: take them one by one.
			var mm tea.Model = m
			for _, r := range msg.Runes {
				var cmd tea.Cmd
				if mm, cmd = mm.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}}); cmd != nil {
					return mm, cmd
				}
			}
			return mm, nil
		}
		if msg.Type == tea.KeyCtrlC {
			m.quitting = true
			return m, tea.Quit
		}
		switch {
		case m.editing:
			m.editKey(msg)
		case m.screen == screenProcesses:
			if m.processKey(msg) {
				m.quitting = true
				return m, tea.Quit
			}
		default:
			if m.serviceKey(msg) {
				m.quitting = true
				return m, tea.Quit
			}
		}
	}
	return m, nil
}

// sortKeyFor maps the direct sort keys.
var sortKeyFor = map[string]SortKey{"r": SortRSS, "p": SortPSS, "g": SortGrowth, "o": SortOOM, "n": SortName}

// serviceKey handles a key on the services table; true means quit.
func (m *Model) serviceKey(k tea.KeyMsg) bool {
	switch s := k.String(); s {
	case "q":
		return true
	case "s":
		m.setSort(m.sort.next())
	case "r", "p", "g", "o", "n":
		m.setSort(sortKeyFor[s])
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "pgup":
		m.move(-max(1, m.listRows()-1))
	case "pgdown":
		m.move(max(1, m.listRows()-1))
	case "home":
		m.move(-len(m.rows))
	case "end":
		m.move(len(m.rows))
	case "enter":
		if len(m.rows) > 0 {
			m.screen, m.detail, m.procOff = screenProcesses, m.rows[m.cursor].Name, 0
		}
	case "/":
		m.editing = true
	case "esc":
		if m.filter != "" {
			m.filter = ""
			m.rebuild()
		}
	}
	return false
}

// processKey handles a key on the processes screen; true means quit.
func (m *Model) processKey(k tea.KeyMsg) bool {
	switch s := k.String(); s {
	case "q":
		return true
	case "esc", "backspace", "left", "h":
		m.screen = screenServices
		m.rebuild()
	case "up", "k":
		m.procOff--
	case "down", "j":
		m.procOff++
	case "pgup":
		m.procOff -= max(1, m.procRows()-1)
	case "pgdown":
		m.procOff += max(1, m.procRows()-1)
	case "home":
		m.procOff = 0
	case "end":
		m.procOff = len(m.processes())
	case "s":
		m.setSort(m.sort.next())
	case "r", "p", "g", "o", "n":
		m.setSort(sortKeyFor[s])
	case "f":
		m.allFrames = !m.allFrames
	}
	m.procOff = max(0, min(m.procOff, len(m.processes())-m.procRows()))
	return false
}

// editKey handles a key while a filter is typed: the table follows each
// keystroke, enter keeps the filter, esc drops it.
func (m *Model) editKey(k tea.KeyMsg) {
	switch k.Type {
	case tea.KeyEnter:
		m.editing = false
	case tea.KeyEsc:
		m.editing, m.filter = false, ""
	case tea.KeyBackspace:
		if r := []rune(m.filter); len(r) > 0 {
			m.filter = string(r[:len(r)-1])
		}
	case tea.KeyCtrlU:
		m.filter = ""
	case tea.KeySpace:
		m.filter += " "
	case tea.KeyRunes:
		for _, r := range k.Runes {
			if unicode.IsPrint(r) {
				m.filter += string(r)
			}
		}
	default:
		return
	}
	m.rebuild()
}

// setSort re-sorts and goes to the top of the table, where the services
// that lead by the new key are.
func (m *Model) setSort(k SortKey) {
	m.sort = k
	m.selected, m.cursor, m.offset = "", 0, 0
	m.rebuild()
}

func (m *Model) move(d int) {
	if len(m.rows) == 0 {
		return
	}
	m.cursor = max(0, min(m.cursor+d, len(m.rows)-1))
	m.selected = m.rows[m.cursor].Name
	m.scroll()
}

// rebuild recomputes the shown services after a snapshot, a sort or a filter
// change, keeping the cursor on the same service when it is still there.
func (m *Model) rebuild() {
	m.rows = m.rows[:0:0]
	for _, s := range m.snap.Services {
		if matches(s.Name, m.filter) {
			m.rows = append(m.rows, s)
		}
	}
	SortServices(m.rows, m.sort)
	found := false
	for i, s := range m.rows {
		if s.Name == m.selected {
			m.cursor, found = i, true
			break
		}
	}
	if !found {
		m.cursor = max(0, min(m.cursor, len(m.rows)-1))
		m.selected = ""
		if len(m.rows) > 0 {
			m.selected = m.rows[m.cursor].Name
		}
	}
	m.scroll()
	m.procOff = max(0, min(m.procOff, len(m.processes())-m.procRows()))
}

// scroll keeps the cursor on screen.
func (m *Model) scroll() {
	n := m.listRows()
	if n <= 0 {
		m.offset = 0
		return
	}
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+n {
		m.offset = m.cursor - n + 1
	}
	m.offset = max(0, min(m.offset, len(m.rows)-n))
}

// matches is a case-insensitive substring match on the name, raw or as shown.
func matches(name, filter string) bool {
	if filter == "" {
		return true
	}
	f := strings.ToLower(filter)
	return strings.Contains(strings.ToLower(name), f) || strings.Contains(strings.ToLower(safe.Text(name)), f)
}

// service finds the drilled-into service in the current snapshot.
func (m Model) service() (aggregate.Service, bool) {
	for _, s := range m.snap.Services {
		if s.Name == m.detail {
			return s, true
		}
	}
	return aggregate.Service{}, false
}

// processes are the drilled-into service's processes, sorted.
func (m Model) processes() []aggregate.Process {
	s, ok := m.service()
	if !ok {
		return nil
	}
	ps := append([]aggregate.Process(nil), s.Processes...)
	sortProcesses(ps, m.sort)
	return ps
}
