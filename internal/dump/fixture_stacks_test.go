package dump

import "github.com/oomtrace/oomtrace/internal/aggregate"

const (
	topFunc     = "nova_cache_grow"
	hostileFunc = `<script>alert("flame")</script>`
	libc        = "/usr/lib/x86_64-linux-gnu/libc.so.6"
	novaBin     = "/usr/bin/nova-api"
)

func native(function, file string, line int, module string) aggregate.Frame {
	return aggregate.Frame{Function: function, File: file, Line: line, Module: module, Kind: "native"}
}

// victimStacks are the growth stacks of the test dump's victim service,
// 950 MiB held: two requests' stacks share main and handle_request (called
// from two lines), a worker thread's leaf is in stripped libc, and a
// truncated stack with a hostile name in a hostile module.
func victimStacks() []aggregate.Stack {
	main := native("main", "nova/main.c", 40, novaBin)
	start := native("__libc_start_main", "", 0, libc)
	return []aggregate.Stack{
		{HeldBytes: 600 * mib, GrownBytes: 800 * mib, Samples: 1600, Frames: []aggregate.Frame{
			native(topFunc, "nova/cache.c", 212, novaBin), native("handle_request", "nova/server.c", 88, novaBin), main, start}},
		{HeldBytes: 200 * mib, GrownBytes: 260 * mib, Samples: 520, Frames: []aggregate.Frame{
			native("json_parse_buf", "nova/json.c", 77, novaBin), native("handle_request", "nova/server.c", 91, novaBin), main, start}},
		{HeldBytes: 100 * mib, GrownBytes: 400 * mib, Samples: 800, Frames: []aggregate.Frame{
			{Module: libc, Offset: 0x9a3f0, Kind: "native"}, native("nova_worker_loop", "nova/worker.c", 31, novaBin),
			native("start_thread", "", 0, libc)}},
		{HeldBytes: 50 * mib, GrownBytes: 50 * mib, Samples: 100, Truncated: true, Frames: []aggregate.Frame{
			native(hostileFunc, "", 0, "/tmp/\x1b[31mevil.so")}},
	}
}

// testDumpStacks is testDump with growth stacks on the victim's service and
// on the service with a hostile name.
func testDumpStacks() *Dump {
	d := testDump()
	d.Services[0].Stacks = victimStacks()
	d.Services[2].Stacks = []aggregate.Stack{{HeldBytes: 20 * mib, GrownBytes: 20 * mib, Samples: 40, Frames: []aggregate.Frame{
		native("leak\x1b[2J", "", 0, hostileName+".so")}}}
	return d
}
