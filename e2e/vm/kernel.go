package vm

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoKernel means no installed kernel package has the modules asked for.
var ErrNoKernel = errors.New("no installed kernel has the modules needed")

// Kernel is an installed kernel package: its compressed image and its
// modules.
type Kernel struct {
	Version    string
	Vmlinuz    string
	ModulesDir string
}

// Roots where kernel packages put their files; variables so that tests
// can point them elsewhere.
var (
	bootDir     = "/boot"
	modulesDirs = []string{"/usr/lib/modules", "/lib/modules"}
)

// FindKernel returns the newest installed kernel that has every module
// named (ip_vs, say) and a vmlinuz in /boot. It returns an error wrapping
// ErrNoKernel when there is none.
func FindKernel(modules ...string) (Kernel, error) {
	var found []Kernel
	seen := map[string]bool{}
	for _, root := range modulesDirs {
		entries, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, e := range entries {
			ver := e.Name()
			vmlinuz := filepath.Join(bootDir, "vmlinuz-"+ver)
			if seen[ver] || !fileExists(vmlinuz) {
				continue
			}
			k := Kernel{Version: ver, Vmlinuz: vmlinuz, ModulesDir: filepath.Join(root, ver)}
			idx, err := k.index()
			if err != nil {
				return Kernel{}, err
			}
			if idx.hasAll(modules) {
				seen[ver] = true
				found = append(found, k)
			}
		}
	}
	if len(found) == 0 {
		return Kernel{}, fmt.Errorf("%w (%s) in %s with its vmlinuz in %s",
			ErrNoKernel, strings.Join(modules, ", "), strings.Join(modulesDirs, " or "), bootDir)
	}
	sort.Slice(found, func(i, j int) bool { return versionLess(found[i].Version, found[j].Version) })
	return found[len(found)-1], nil
}

// versionLess orders kernel versions ("6.1.0-57-amd64") by their numbers.
func versionLess(a, b string) bool {
	na, nb := versionNumbers(a), versionNumbers(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	if len(na) != len(nb) {
		return len(na) < len(nb)
	}
	return a < b
}

func versionNumbers(v string) []int {
	var nums []int
	n, in := 0, false
	for _, r := range v + "." {
		if r >= '0' && r <= '9' {
			n, in = n*10+int(r-'0'), true
			continue
		}
		if in {
			nums = append(nums, n)
		}
		n, in = 0, false
	}
	return nums
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// Vmlinux returns the uncompressed ELF kernel, extracted from the bzImage
// into cacheDir on first use (named after the image's version, size and
// time, so that an upgraded package is extracted again). QEMU boots the
// ELF through its PVH note, skipping the decompressor that costs seconds
// under software emulation. When the image's compression has no decoder
// here (xz needs the xz tool), it returns the bzImage itself and says so.
func (k Kernel) Vmlinux(cacheDir string) (path string, note string, err error) {
	st, err := os.Stat(k.Vmlinuz)
	if err != nil {
		return "", "", err
	}
	cached := filepath.Join(cacheDir, fmt.Sprintf("vmlinux-%s-%d-%d", k.Version, st.Size(), st.ModTime().Unix()))
	if fileExists(cached) {
		return cached, "", nil
	}
	image, err := os.ReadFile(k.Vmlinuz)
	if err != nil {
		return "", "", err
	}
	elfImage, err := extractVmlinux(image)
	if errors.Is(err, errNoDecoder) {
		return k.Vmlinuz, fmt.Sprintf("booting the compressed %s (slower): %v", k.Vmlinuz, err), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("extracting vmlinux from %s: %w", k.Vmlinuz, err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.CreateTemp(cacheDir, ".vmlinux-*")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(elfImage); err != nil {
		tmp.Close()
		return "", "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", "", err
	}
	if err := tmp.Close(); err != nil {
		return "", "", err
	}
	return cached, "", os.Rename(tmp.Name(), cached)
}

var errNoDecoder = errors.New("no decoder for the kernel's compression")

// extractVmlinux finds the compressed kernel in a bzImage (boot protocol
// 2.08 and later record where: payload_offset and payload_length in the
// setup header) and decompresses it, as the kernel's extract-vmlinux does.
func extractVmlinux(image []byte) ([]byte, error) {
	const hdr = 0x1f1
	if len(image) < 0x250 || string(image[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage (no HdrS setup header)")
	}
	if v := binary.LittleEndian.Uint16(image[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("boot protocol %#x predates payload_offset (2.08)", v)
	}
	setupSects := int(image[hdr])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(image[0x248:]))
	end := start + int(binary.LittleEndian.Uint32(image[0x24c:]))
	if start >= end || end > len(image) {
		return nil, fmt.Errorf("payload [%d, %d) lies outside the %d-byte image", start, end, len(image))
	}
	payload := image[start:end]
	var out []byte
	var err error
	switch {
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(payload)); err == nil {
			zr.Multistream(false)
			out, err = io.ReadAll(zr)
		}
	case bytes.HasPrefix(payload, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		out, err = decompressWith(payload, "xz", "--decompress", "--stdout", "--single-stream")
	case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		out, err = decompressWith(payload, "zstd", "--decompress", "--stdout")
	default:
		return nil, fmt.Errorf("%w: payload starts % x", errNoDecoder, payload[:min(6, len(payload))])
	}
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(out, []byte(elf.ELFMAG)) {
		return nil, errors.New("the decompressed payload is not an ELF file")
	}
	return out, nil
}

// decompressWith runs a decompressor (the kernel's xz stream uses the x86
// BCJ filter, which the pure-Go xz decoders lack).
func decompressWith(payload []byte, tool string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(tool); err != nil {
		return nil, fmt.Errorf("%w: %s is not installed", errNoDecoder, tool)
	}
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The payload ends with the kernel's 4-byte size trailer: the
	// decompressors may complain of it after the stream, harmlessly.
	out, err := cmd.Output()
	if len(out) == 0 && err != nil {
		return nil, fmt.Errorf("%s: %v: %s", tool, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Module is a kernel module file to load.
type Module struct {
	Name string
	Path string
}

// moduleInfo is what a module's .modinfo says about loading it.
type moduleInfo struct {
	path    string
	read    bool // .modinfo read
	depends []string
	softPre []string
	aliases []string
}

type moduleIndex struct {
	byName  map[string]*moduleInfo
	byAlias map[string][]string
}

// modName is a module's name as the kernel and modinfo spell it.
func modName(file string) string {
	base := filepath.Base(file)
	base = base[:strings.Index(base, ".ko")]
	return strings.ReplaceAll(base, "-", "_")
}

// index lists the kernel's module files by name, reading no file yet.
func (k Kernel) index() (*moduleIndex, error) {
	idx := &moduleIndex{byName: map[string]*moduleInfo{}, byAlias: map[string][]string{}}
	err := filepath.WalkDir(filepath.Join(k.ModulesDir, "kernel"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			idx.byName[modName(path)] = &moduleInfo{path: path}
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	return idx, err
}

func (idx *moduleIndex) hasAll(names []string) bool {
	for _, n := range names {
		if idx.byName[n] == nil {
			return false
		}
	}
	return true
}

// readModinfo fills in what a module's .modinfo section says.
func readModinfo(m *moduleInfo) error {
	if m.read {
		return nil
	}
	m.read = true
	if !strings.HasSuffix(m.path, ".ko") {
		return fmt.Errorf("%s is compressed: only uncompressed modules can be read and loaded here", m.path)
	}
	f, err := elf.Open(m.path)
	if err != nil {
		return err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return fmt.Errorf("%s has no .modinfo section", m.path)
	}
	data, err := sec.Data()
	if err != nil {
		return fmt.Errorf("reading .modinfo of %s: %w", m.path, err)
	}
	parseModinfo(m, data)
	return nil
}

// parseModinfo reads the NUL-separated key=value strings of .modinfo.
func parseModinfo(m *moduleInfo, data []byte) {
	for _, kv := range strings.Split(string(data), "\x00") {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch key {
		case "depends":
			for _, d := range strings.Split(val, ",") {
				if d != "" {
					m.depends = append(m.depends, d)
				}
			}
		case "softdep":
			// "pre: a b post: c": only the pre-dependencies matter for
			// loading.
			pre := false
			for _, w := range strings.Fields(val) {
				switch w {
				case "pre:":
					pre = true
				case "post:":
					pre = false
				default:
					if pre {
						m.softPre = append(m.softPre, w)
					}
				}
			}
		case "alias":
			m.aliases = append(m.aliases, val)
		}
	}
}

// Modules returns the modules named and everything they need, in an order
// that loads each after its dependencies. Softdeps count too (busybox's
// modprobe ignores them: libcrc32c needs a crc32c implementation loaded
// first); a softdep naming an alias provided by several modules takes the
// generic implementation, which needs no particular CPU feature.
func (k Kernel) Modules(names ...string) ([]Module, error) {
	idx, err := k.index()
	if err != nil {
		return nil, err
	}
	// Aliases are known only after reading every module's .modinfo;
	// softdeps are rare, so read them all only when one is met.
	aliasesRead := false
	readAliases := func() error {
		if aliasesRead {
			return nil
		}
		aliasesRead = true
		for name, m := range idx.byName {
			if err := readModinfo(m); err != nil {
				return err
			}
			for _, a := range m.aliases {
				idx.byAlias[a] = append(idx.byAlias[a], name)
			}
		}
		return nil
	}
	return resolve(names, func(name string) (*moduleInfo, error) {
		m := idx.byName[name]
		if m == nil {
			return nil, nil
		}
		return m, readModinfo(m)
	}, func(alias string) ([]string, error) {
		if err := readAliases(); err != nil {
			return nil, err
		}
		return idx.byAlias[alias], nil
	})
}

// resolve orders modules after their dependencies (depth first). lookup
// returns nil for a name that is no module (built into the kernel);
// providers lists the modules that declare an alias.
func resolve(names []string, lookup func(string) (*moduleInfo, error), providers func(string) ([]string, error)) ([]Module, error) {
	var order []Module
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(name string, required bool) error
	visit = func(name string, required bool) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle through %s", name)
		case 2:
			return nil
		}
		m, err := lookup(name)
		if err != nil {
			return err
		}
		if m == nil {
			if required {
				return fmt.Errorf("module %s not found", name)
			}
			state[name] = 2
			return nil
		}
		state[name] = 1
		for _, soft := range m.softPre {
			target := soft
			if mm, err := lookup(soft); err != nil {
				return err
			} else if mm == nil {
				provs, err := providers(soft)
				if err != nil {
					return err
				}
				if len(provs) == 0 {
					continue
				}
				target = pickProvider(provs)
			}
			if err := visit(target, false); err != nil {
				return err
			}
		}
		for _, dep := range m.depends {
			// A dependency that is no module file is built in.
			if err := visit(dep, false); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, Module{Name: name, Path: m.path})
		return nil
	}
	for _, n := range names {
		if err := visit(n, true); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// pickProvider chooses among the modules providing an alias: the generic
// one when there is one (CPU-specific ones refuse to load on an emulated
// CPU without their instructions), else the first by name.
func pickProvider(provs []string) string {
	sorted := append([]string(nil), provs...)
	sort.Strings(sorted)
	for _, p := range sorted {
		if strings.HasSuffix(p, "_generic") {
			return p
		}
	}
	return sorted[0]
}
