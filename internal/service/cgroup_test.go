package service

import "testing"

const (
	id  = "3f2a1b9c0d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd"
	id2 = "9c0d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd3f2a1b"
	uid = "8d3b3f0e-2f1a-4c5d-9e7f-0a1b2c3d4e5f" // pod uid; systemd driver writes '_' for '-'
	usc = "8d3b3f0e_2f1a_4c5d_9e7f_0a1b2c3d4e5f"
)

func TestUnitFromCgroup(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/system.slice/nova-api.service", "nova-api.service"},
		{"/system.slice/nginx.service", "nginx.service"},
		{"/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service"},
		{"/system.slice/nova-api.service/workers", "nova-api.service"}, // a sub-cgroup of the unit
		{"/system.slice/docker.service", "docker.service"},
		{"/system.slice/containerd.service", "containerd.service"},
		{"/system.slice/run-r0a1b2c3d4e5f.scope", "run-r0a1b2c3d4e5f.scope"}, // systemd-run
		{"/system.slice/system-systemd\\x2dfsck.slice/systemd-fsck@dev-sda1.service", "systemd-fsck@dev-sda1.service"},
		{"/system.slice/nginx.service (deleted)", "nginx.service"},
		{"0::/system.slice/nginx.service", "nginx.service"},
		{"1:name=systemd:/system.slice/nginx.service", "nginx.service"},
		// Delegated subtrees are named outer/inner.
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-0c1d.scope", "user@1000.service/vte-spawn-0c1d.scope"},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service", "user@1000.service/pipewire.service"},
		{"/user.slice/user-1000.slice/user@1000.service/nginx.service", "user@1000.service/nginx.service"},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "user@1000.service/foo.service"},
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "user@1000.service/foo.service"},
		{"1:name=systemd:/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "user@1000.service/foo.service"},
		{"/user.slice/user-1000.slice/user@1000.service/session.slice/dbus-broker.service", "user@1000.service/dbus-broker.service"},
		{"/system.slice/lxc.service/init.scope", "lxc.service"}, // a delegated manager inside a service
		// Sessions, the per-user manager and init.scope are not services:
		// what runs in them is named by the process tree. v2 ("0::") and v1
		// (name=systemd) lines, and bare paths.
		{"/user.slice/user-1000.slice/session-3.scope", ""},
		{"0::/user.slice/user-1000.slice/session-3.scope", ""},
		{"1:name=systemd:/user.slice/user-1000.slice/session-3.scope", ""},
		{"1:name=systemd:/user.slice/user-0.slice/session-c1.scope", ""}, // a session without a seat
		{"0::/user.slice/user-1000.slice/session-3.scope (deleted)", ""},
		{"/user.slice/user-1000.slice/user@1000.service", ""}, // older systemd: the manager in the unit itself
		{"1:name=systemd:/user.slice/user-1000.slice/user@1000.service", ""},
		{"/user.slice/user-1000.slice/user@1000.service/init.scope", ""},
		{"0::/user.slice/user-1000.slice/user@1000.service/init.scope", ""},
		{"/init.scope", ""},
		{"0::/init.scope", ""},
		{"1:name=systemd:/init.scope", ""},
		// Not units.
		{"/", ""},
		{"", ""},
		{"/system.slice", ""},
		{"/user.slice/user-1000.slice", ""},
		{"/.service", ""},
		{"/system.slice/evil\x1b[31m.service", ""},
		{"/system.slice/a b.service", ""},
		// Look-alikes of the non-services are services.
		{"/system.slice/session-manager.service", "session-manager.service"},
		{"/system.slice/user@.service", "user@.service"},
		{"/system.slice/user@x1.service", "user@x1.service"},
		{"/system.slice/myinit.scope", "myinit.scope"},
		{"/system.slice/docker-" + id + ".scope", ""},
		{"/system.slice/docker-" + id + ".scope/system.slice/nginx.service", ""}, // systemd in a container
		{"/machine.slice/libpod-" + id + ".scope", ""},
		{"/machine.slice/libpod-" + id + ".scope/container", ""},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope", ""},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/cri-containerd-" + id + ".scope", ""},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + usc + ".slice/crio-" + id + ".scope", ""},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + usc + ".slice/crio-conmon-" + id + ".scope", ""},
	} {
		got, ok := UnitFromCgroup(tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("UnitFromCgroup(%q) = %q, %v; want %q", tc.path, got, ok, tc.want)
		}
	}
}

func TestContainerFromCgroup(t *testing.T) {
	short, short2 := id[:12], id2[:12]
	pod := "kubepods:pod8d3b3f0e2f1a"
	for _, tc := range []struct{ path, want string }{
		// docker: cgroupfs driver (v1 and v2), systemd driver, docker-in-docker, GitHub Actions.
		{"/docker/" + id, "docker:" + short},
		{"/docker/" + id + " (deleted)", "docker:" + short},
		{"12:memory:/docker/" + id, "docker:" + short},
		{"/system.slice/docker-" + id + ".scope", "docker:" + short},
		{"/docker/" + id + "/docker/" + id2, "docker:" + short2},
		{"/actions_job/" + id, "docker:" + short},
		{"/moby/" + id, "docker:" + short},
		{"/ecs/5a0d5a1e4c2b4f7c9d8e7f6a5b4c3d2e/" + id, "docker:" + short},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" + id + ".scope", "docker:" + short},
		// Kubernetes, cgroupfs driver: guaranteed, burstable, besteffort.
		{"/kubepods/pod" + uid + "/" + id, "kubepods:" + short},
		{"/kubepods/burstable/pod" + uid + "/" + id, "kubepods:" + short},
		{"/kubepods/besteffort/pod" + uid + "/" + id, "kubepods:" + short},
		{"/kubepods/besteffort/pod" + uid + "/crio-" + id, "crio:" + short},
		{"/kubepods/burstable/pod" + uid, pod},
		{"/kubepods/pod0123456789abcdef0123456789abcdef", "kubepods:pod0123456789ab"}, // static pod: a hash
		// Kubernetes, systemd driver: guaranteed, burstable, besteffort; containerd, cri-o, dockershim.
		{"/kubepods.slice/kubepods-pod" + usc + ".slice/cri-containerd-" + id + ".scope", "containerd:" + short},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/cri-containerd-" + id + ".scope", "containerd:" + short},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + usc + ".slice/cri-containerd-" + id + ".scope", "containerd:" + short},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + usc + ".slice/crio-" + id + ".scope", "crio:" + short},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/crio-conmon-" + id + ".scope", "crio:" + short},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice/docker-" + id + ".scope", "docker:" + short},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + usc + ".slice", pod},
		{"/kubepods.slice/kubepods-pod" + usc + ".slice", pod},
		// kind: a node container holding a kubelet.
		{"/docker/" + id2 + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + usc + ".slice/cri-containerd-" + id + ".scope", "containerd:" + short},
		{"/docker/" + id2 + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + usc + ".slice", pod},
		{"/docker/" + id2 + "/system.slice/kubelet.service", "docker:" + short2},
		// podman: root (machine.slice), rootless, cgroupfs, conmon.
		{"/machine.slice/libpod-" + id + ".scope", "podman:" + short},
		{"/machine.slice/libpod-" + id + ".scope/container", "podman:" + short},
		{"/machine.slice/libpod-conmon-" + id + ".scope", "podman:" + short},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope", "podman:" + short},
		{"/libpod_parent/libpod-" + id, "podman:" + short},
		// nerdctl
		{"/system.slice/nerdctl-" + id + ".scope", "containerd:" + short},
		// Not containers.
		{"/", ""},
		{"", ""},
		{"/system.slice/nginx.service", ""},
		{"/system.slice/docker.service", ""},
		{"/system.slice/docker-compose@web.service", ""},
		{"/docker/" + id[:63], ""},
		{"/docker/" + id + "0", ""},
		{"/docker/" + "3F2A" + id[4:], ""}, // ids are lower case
		{"/system.slice/" + id, ""},        // a bare id needs a known parent
		{"/system.slice/docker-" + id[:12] + ".scope", ""},
		{"/pod" + uid, ""}, // a pod needs kubepods
		{"/kubepods/burstable/pod1234", ""},
		{"/kubepods/burstable/pod" + uid + "x", ""},
		{"/lxc.payload.web01", ""},
	} {
		got, ok := ContainerFromCgroup(tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ContainerFromCgroup(%q) = %q, %v; want %q", tc.path, got, ok, tc.want)
		}
	}
}
