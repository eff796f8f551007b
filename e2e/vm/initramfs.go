package vm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
)

// Guest paths the initramfs lays out and the guest reads.
const (
	// GuestModulesDir holds the modules, and ModulesOrder the file names to
	// load, one a line, in order.
	GuestModulesDir = "/modules"
	ModulesOrder    = GuestModulesDir + "/order"
)

// cpioWriter writes a newc ("070701") cpio archive, the format the kernel
// unpacks as its initramfs. The archive is left uncompressed: QEMU loads it
// straight into memory, and decompressing under emulation costs more than
// the copy.
type cpioWriter struct {
	w    *bufio.Writer
	ino  uint32
	off  int64
	dirs map[string]bool
}

func newCpioWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriter(w), ino: 1, dirs: map[string]bool{}}
}

func (c *cpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) error {
	name = strings.TrimPrefix(name, "/")
	c.ino++
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check.
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	if _, err := c.w.WriteString(hdr + name + "\x00"); err != nil {
		return err
	}
	c.off += int64(len(hdr) + len(name) + 1)
	return c.pad()
}

// pad aligns to 4 bytes, as newc wants after headers and file data.
func (c *cpioWriter) pad() error {
	n := (4 - c.off%4) % 4
	c.off += n
	_, err := c.w.Write(make([]byte, n))
	return err
}

// mkdirAll adds the directories of p that are not in the archive yet.
func (c *cpioWriter) mkdirAll(p string) error {
	p = path.Clean("/" + p)
	if p == "/" || c.dirs[p] {
		return nil
	}
	if err := c.mkdirAll(path.Dir(p)); err != nil {
		return err
	}
	c.dirs[p] = true
	return c.header(p, syscall.S_IFDIR|0o755, 0, 0, 0)
}

// file adds a regular file with the given contents.
func (c *cpioWriter) file(name string, perm uint32, data []byte) error {
	if err := c.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	if err := c.header(name, syscall.S_IFREG|perm, int64(len(data)), 0, 0); err != nil {
		return err
	}
	if _, err := c.w.Write(data); err != nil {
		return err
	}
	c.off += int64(len(data))
	return c.pad()
}

// copyFile adds a file of the host's.
func (c *cpioWriter) copyFile(name string, perm uint32, src string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return c.file(name, perm, data)
}

// charDev adds a character device node.
func (c *cpioWriter) charDev(name string, major, minor uint32) error {
	if err := c.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	return c.header(name, syscall.S_IFCHR|0o600, 0, major, minor)
}

// close writes the trailer.
func (c *cpioWriter) close() error {
	if err := c.header("TRAILER!!!", 0, 0, 0, 0); err != nil {
		return err
	}
	return c.w.Flush()
}

// Initramfs writes to dst an initramfs whose /init is the guest binary,
// with the modules under GuestModulesDir in load order and the directories
// the guest mounts on.
func Initramfs(dst, guest string, modules []Module) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	c := newCpioWriter(f)
	err = func() error {
		for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run"} {
			if err := c.mkdirAll(d); err != nil {
				return err
			}
		}
		// The kernel opens /dev/console for init's standard streams
		// before devtmpfs is mounted: without the node init has none.
		if err := c.charDev("/dev/console", 5, 1); err != nil {
			return err
		}
		if err := c.copyFile("/init", 0o755, guest); err != nil {
			return fmt.Errorf("adding the guest binary %s: %w", guest, err)
		}
		var order strings.Builder
		for _, m := range modules {
			name := path.Base(m.Path)
			if err := c.copyFile(path.Join(GuestModulesDir, name), 0o644, m.Path); err != nil {
				return fmt.Errorf("adding module %s: %w", m.Name, err)
			}
			order.WriteString(name + "\n")
		}
		if err := c.file(ModulesOrder, 0o644, []byte(order.String())); err != nil {
			return err
		}
		return c.close()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing initramfs %s: %w", dst, err)
	}
	return nil
}
