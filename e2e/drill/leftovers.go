package drill

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// inode returns a file's inode number: a network namespace's identity.
func inode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// leftovers lists what remains of a lab that was taken down: its named
// network namespaces, its state directory, mounts under it, and
// processes still in one of its network namespaces (inodes maps their
// inode numbers to their names).
func leftovers(names []string, dir string, inodes map[uint64]string) []string {
	var out []string
	for _, ns := range names {
		if _, err := os.Lstat(filepath.Join("/run/netns", ns)); err == nil {
			out = append(out, "network namespace "+ns+" is still in /run/netns")
		}
	}
	if _, err := os.Lstat(dir); err == nil {
		out = append(out, "the lab's directory "+dir+" is still there")
	}
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
				out = append(out, "mount "+f[1]+" is still there")
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		ino, err := inode(p)
		if err != nil {
			continue
		}
		if ns, ok := inodes[ino]; ok {
			pid := strings.Split(p, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			out = append(out, fmt.Sprintf("process %s (%s) still runs in network namespace %s", pid, strings.TrimSpace(string(comm)), ns))
		}
	}
	return out
}
