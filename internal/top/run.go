package top

import (
	"context"
	"errors"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// Run shows the interactive view on the terminal (or opts.Input and
// opts.Output) until the user quits, snaps is closed or ctx is done; the
// last two are not errors. Each snapshot received replaces the one shown.
func Run(ctx context.Context, snaps <-chan aggregate.Snapshot, opts Options) error {
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithAltScreen()}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if opts.Output != nil {
		popts = append(popts, tea.WithOutput(opts.Output))
	}
	p := tea.NewProgram(NewModel(opts), popts...)

	feedCtx, stop := context.WithCancel(ctx)
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for {
			select {
			case <-feedCtx.Done():
				return
			case s, ok := <-snaps:
				if !ok {
					p.Send(feedClosedMsg{})
					return
				}
				p.Send(SnapshotMsg(s))
			}
		}
	}()

	_, err := p.Run()
	stop()
	<-fed // Send returns at once now that the program has ended
	if err != nil && errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	return err
}
